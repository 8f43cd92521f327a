import { formatDiagnostic, type Diagnostic } from '../../sdk/errors.js';

/** How `affectlab validate` prints its results. */
export const VALIDATE_FORMATS = ['text', 'json', 'github'] as const;
export type ValidateFormat = (typeof VALIDATE_FORMATS)[number];

/** One problem as `validate --format json` gives it. */
export interface ReportedProblem {
  /** The file the problem is in: the experiment, an `extends:` base, or a `--set` flag. */
  file: string;
  line: number | null;
  col: number | null;
  path: string;
  message: string;
}

/** The result for one file given to validate. */
export interface FileReport {
  file: string;
  ok: boolean;
  errors: ReportedProblem[];
  /** Unset `${env:X}` references, and sections not checked (plugin modules not loaded). */
  warnings: ReportedProblem[];
  /** How many sections were not checked because plugin modules were not imported. */
  unchecked: number;
  /** Files the run needs besides the experiment (pretrained weights): cached or to download. */
  notes: string[];
}

export function reportedProblem(d: Diagnostic): ReportedProblem {
  return {
    file: d.file,
    line: d.line ?? null,
    col: d.col ?? null,
    path: d.path,
    message: d.message,
  };
}

/**
 * GitHub's workflow-command escaping: `%`, CR and LF in the message; also `:` and `,` in a
 * property value (docs.github.com, "Workflow commands for GitHub Actions").
 */
function escapeData(text: string): string {
  return text.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
}
function escapeProperty(text: string): string {
  return escapeData(text).replaceAll(':', '%3A').replaceAll(',', '%2C');
}

/** `::error file=F,line=L,col=C::path: message` (a problem without a line names only the file). */
export function githubAnnotation(level: 'error' | 'warning', p: ReportedProblem): string {
  const props = [`file=${escapeProperty(p.file)}`];
  if (p.line !== null) props.push(`line=${p.line}`);
  if (p.col !== null) props.push(`col=${p.col}`);
  return `::${level} ${props.join(',')}::${escapeData(`${p.path}: ${p.message}`)}`;
}

function textOf(p: ReportedProblem): string {
  return formatDiagnostic({
    file: p.file,
    line: p.line ?? undefined,
    col: p.col ?? undefined,
    path: p.path,
    message: p.message,
  });
}

/**
 * Print the reports. `text`: errors on stdout as file:line:col: path: message, `file: ok` for a
 * valid file, warnings on stderr; `github`: one annotation per problem on stdout; `json`: the
 * array of reports. In text and github form a warning that several files share (a base they
 * all extend) is printed once.
 */
export function printReports(
  reports: FileReport[],
  format: ValidateFormat,
  out: (text: string) => void,
  err: (text: string) => void,
): void {
  if (format === 'json') {
    out(JSON.stringify(reports, null, 2) + '\n');
    return;
  }
  const printed = new Set<string>();
  for (const r of reports) {
    for (const w of r.warnings) {
      const line = format === 'github' ? githubAnnotation('warning', w) : `warning: ${textOf(w)}`;
      if (printed.has(line)) continue;
      printed.add(line);
      (format === 'github' ? out : err)(line + '\n');
    }
    if (format === 'github') {
      for (const e of r.errors) out(githubAnnotation('error', e) + '\n');
    } else if (r.ok) {
      const note =
        r.unchecked > 0
          ? ` (${r.unchecked} section(s) not checked: plugin modules not imported, see the warnings)`
          : '';
      out(`${r.file}: ok${note}\n`);
      for (const line of r.notes) out(`  ${line}\n`);
    } else {
      out(r.errors.map(textOf).join('\n') + '\n');
    }
  }
}
