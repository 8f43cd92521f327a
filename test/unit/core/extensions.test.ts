import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCli } from '../../../src/core/cli/program.js';
import type { RunQuery } from '../../../src/core/reporting/compare.js';
import type { Runtime } from '../../../src/core/host/runtime.js';
import type { CliExtensions, DoctorSection } from '../../../src/core/cli/extensions.js';
import { createCliExtensions } from '../../../src/main.js';
import { testRuntime } from '../../support/helpers.js';

/** Run the CLI in-process on `runtime` and the plugins' extensions, capturing stdout. */
async function cli(runtime: Runtime, extensions: CliExtensions, args: string[]): Promise<string> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    // the command writes text; bytes are the test runner's own events, passed through
    if (typeof chunk !== 'string') return write(chunk);
    chunks.push(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    const program = createCli(runtime, [], extensions);
    program.exitOverride();
    await program.parseAsync(args, { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  return chunks.join('');
}

const probe: DoctorSection<{ answers: number; device: string }> = {
  name: 'probe',
  collect: async () => ({ answers: 42, device: 'probe:0' }),
  format: (v) => [`${v.answers} answers`, `on ${v.device}`],
};

describe('plugin extension points of the CLI (held apart from the runtime)', () => {
  it('the built-in plugins contribute the sync command, the mlflow doctor section and run source', () => {
    const runtime = testRuntime();
    const extensions = createCliExtensions();
    assert.ok(extensions.doctorSections.has('mlflow'));
    assert.deepEqual(extensions.runSources.names(), ['mlflow']);
    const program = createCli(runtime, [], extensions);
    const names = program.commands.map((c) => c.name());
    for (const name of ['sync', 'synth', 'summary', 'doctor', 'compare'])
      assert.ok(names.includes(name), name);
  });

  it('refuses a second doctor section or run source of the same name', () => {
    const extensions = createCliExtensions();
    assert.throws(
      () => extensions.extend({ doctorSections: [{ ...probe, name: 'mlflow' } as DoctorSection] }),
      /doctor section named 'mlflow' is already registered/,
    );
    assert.throws(
      () =>
        extensions.extend({
          runSources: [{ name: 'mlflow', description: 'again', source: async () => [] }],
        }),
      /run source named 'mlflow' is already registered/,
    );
  });

  it('doctor prints every section: --json under its name (core keys kept), text labelled', async () => {
    const runtime = testRuntime();
    const extensions = createCliExtensions();
    extensions.extend({
      doctorSections: [
        probe as unknown as DoctorSection,
        {
          name: 'broken',
          collect: () => {
            throw new Error('no such device');
          },
          format: () => [],
        },
      ],
    });
    const json = JSON.parse(
      await cli(runtime, extensions, ['doctor', '--json', '--backend', 'cpu']),
    ) as Record<string, unknown>;
    for (const key of ['backends', 'active', 'execution', 'nativeInstall', 'graphAddon', 'mlflow'])
      assert.ok(key in json, key);
    assert.deepEqual(json.probe, { answers: 42, device: 'probe:0' });
    assert.deepEqual(json.broken, { error: 'no such device' });
    assert.equal((json.active as { name: string }).name, 'cpu');
    const text = await cli(runtime, extensions, ['doctor', '--backend', 'cpu']);
    assert.match(text, /^probe {7}42 answers\n {12}on probe:0$/m);
    assert.match(text, /^broken {6}failed: no such device$/m);
    assert.match(text, /^mlflow {6}/m);
  });

  it('compare --from lists the registered sources, passes each its own options, and suggests on a typo', async () => {
    const runtime = testRuntime();
    const extensions = createCliExtensions();
    const seen: RunQuery[] = [];
    extensions.extend({
      runSources: [
        {
          name: 'archive',
          description: 'runs kept in an archive',
          options: [{ flags: '--archive-path <dir>', description: 'where the archive is' }],
          source: async (query) => {
            seen.push(query);
            return [
              {
                runId: 'r1',
                experiment: 'archived-exp',
                status: 'FINISHED',
                source: `${query.options.archivePath}/r1`,
                metrics: { accuracy: 0.5, f1_macro: 0.25 },
              },
            ];
          },
        },
      ],
    });
    const help =
      createCli(runtime, [], extensions)
        .commands.find((c) => c.name() === 'compare')
        ?.helpInformation() ?? '';
    assert.match(
      help.replace(/\s+/g, ' '),
      /local \(the local run store \(--runs\)\), mlflow \(.*\), archive \(runs kept in an archive\)/,
    );
    assert.match(help, /--archive-path <dir>/);
    const out = await cli(runtime, extensions, [
      'compare',
      '--from',
      'archive',
      '--archive-path',
      '/srv/a',
      '--format',
      'json',
    ]);
    assert.equal(seen[0].options.archivePath, '/srv/a');
    assert.match(out, /archived-exp/);
    await assert.rejects(
      cli(runtime, extensions, ['compare', '--from', 'archiv']),
      /unknown --from 'archiv'; did you mean 'archive'\? Registered run sources: local, mlflow, archive/,
    );
  });
});
