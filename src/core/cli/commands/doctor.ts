import type { Command } from 'commander';
import { BackendService, nativeInstallStatus } from '../../training/backend.js';
import { decideEngine } from '../../engine/index.js';
import type { CliExtensions, JsonValue } from '../extensions.js';
import type { Runtime } from '../../host/runtime.js';
import { gpuSection, gpuSectionLines } from '../doctor-gpu.js';
import { architectureEngineLines, architectureEngines } from '../doctor-architectures.js';
import { jpegAddon } from '../../pipeline/jpeg.js';

export function registerDoctorCommand(
  program: Command,
  runtime: Runtime,
  cli: CliExtensions,
): void {
  program
    .command('doctor')
    .description(
      "show Node, tfjs and backend versions, the active backend and its devices, the execution engine runs get (and each architecture's engine), the GPU setup (devices TensorFlow sees, CUDA libraries, driver), and each plugin's section (e.g. MLflow settings)",
    )
    .option('--json', 'print JSON')
    .option(
      '--no-architectures',
      'skip building each registered architecture to name its engine (the slow part: seconds)',
    )
    .option(
      '--backend <name>',
      'backend to activate (auto, tensorflow-gpu, tensorflow, cpu)',
      'auto',
    )
    .action(
      async (opts: {
        json?: boolean;
        architectures: boolean;
        backend: 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'cpu';
      }) => {
        const backends = runtime.container.resolve(BackendService);
        let active: unknown;
        let activeError: string | undefined;
        // activate first: the requested native package must be the one loaded in this process
        // (the other one is then checked in a child process)
        try {
          active = await backends.activate(opts.backend);
        } catch (error) {
          activeError = (error as Error).message;
        }
        const probes = await backends.probeAll();
        const activeName = (active as { name?: string } | undefined)?.name ?? 'none';
        // which engine `training.execution: auto` gives a run here (the model's layers may
        // still send a run to eager; the run's log says so)
        const execution = await decideEngine('auto', activeName).catch((error: Error) => ({
          kind: 'eager' as const,
          reason: error.message,
        }));
        // and which engine each registered architecture's layers compile to
        const engines = opts.architectures ? await architectureEngines(runtime, activeName) : [];
        const report = {
          node: process.version,
          platform: `${process.platform}-${process.arch}`,
          backends: probes,
          active: active ?? null,
          activeError,
          execution,
          engines,
          nativeInstall: nativeInstallStatus() ?? null,
          // scripts/graph-addon.mjs's record: the compiled step's addon per native package
          graphAddon: nativeInstallStatus('.affectlab-graph.json') ?? null,
          // the cold JPEG decode: DCT scaling from 2x with the addon, else sharp's from 3x
          jpegAddon: jpegAddon().error ?? 'loaded (DCT-scaled JPEG decode from 2x)',
          // oneDNN's CPU kernels: TensorFlow's choice unless TF_ENABLE_ONEDNN_OPTS says (docs/compiled-step.md)
          onednn: process.env.TF_ENABLE_ONEDNN_OPTS ?? 'unset',
          gpu: gpuSection(),
          plugins: runtime.registry.list().map((d) => `${d.kind}:${d.type}`),
        };
        // the plugins' sections, each under its name; one that fails says why instead
        const sections: { name: string; lines: string[] }[] = [];
        const contributed: Record<string, JsonValue> = {};
        for (const section of cli.doctorSections.values()) {
          if (section.name in report) {
            sections.push({
              name: section.name,
              lines: ["skipped: the name is one of doctor's own keys"],
            });
            continue;
          }
          try {
            const value = await section.collect(runtime);
            contributed[section.name] = value;
            sections.push({ name: section.name, lines: section.format(value) });
          } catch (error) {
            const message = (error as Error).message;
            contributed[section.name] = { error: message };
            sections.push({ name: section.name, lines: [`failed: ${message}`] });
          }
        }
        if (opts.json) {
          process.stdout.write(JSON.stringify({ ...report, ...contributed }, null, 2) + '\n');
          return;
        }
        const lines = [
          `node        ${report.node} (${report.platform})`,
          ...probes.map(
            (p) =>
              `backend     ${p.name.padEnd(15)} ${p.available ? 'available' : 'unavailable'}` +
              `${p.version ? ` (${p.package ?? 'tfjs'} ${p.version})` : ''}${p.error ? `: ${p.error}` : ''}`,
          ),
          `active      ${active ? JSON.stringify(active) : `none: ${activeError}`}`,
          `execution   ${execution.kind} (${execution.reason})`,
          ...architectureEngineLines(engines),
          `native      ${report.nativeInstall ? JSON.stringify(report.nativeInstall) : 'no install record (scripts/native-backend.mjs has not run)'}`,
          `graph addon ${report.graphAddon ? JSON.stringify(report.graphAddon) : 'no install record (scripts/graph-addon.mjs has not run)'}`,
          `jpeg addon  ${report.jpegAddon}`,
          `oneDNN      TF_ENABLE_ONEDNN_OPTS=${report.onednn}${report.onednn === '1' ? ' (oneDNN CPU kernels)' : report.onednn === '0' ? ' (TensorFlow kernels)' : " (TensorFlow's choice: oneDNN only on AVX-512 VNNI/AMX CPUs)"}`,
          ...gpuSectionLines(report.gpu),
          ...sections.flatMap(({ name, lines: own }) =>
            own.map((line, i) => `${(i === 0 ? name : '').padEnd(11)} ${line}`),
          ),
          `plugins     ${report.plugins.join(', ')}`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
      },
    );
}
