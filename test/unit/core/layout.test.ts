import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { repoRoot } from '../../support/helpers.js';

const srcRoot = join(repoRoot, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Relative module specifiers a file loads at run time (type-only imports and exports are erased). */
function valueImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const specs: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            bindings !== undefined &&
            ts.isNamedImports(bindings) &&
            bindings.elements.length > 0 &&
            bindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) specs.push(node.moduleSpecifier.text);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      if (!node.isTypeOnly) specs.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      specs.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specs.filter((spec) => spec.startsWith('.'));
}

/** Every relative module specifier of a file, type-only ones included. */
function allImports(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles.map((f) => f.fileName).filter((spec) => spec.startsWith('.'));
}

/**
 * Module graph of src/ as Node loads it: value imports, export-from and dynamic imports. (A
 * cycle through type-only imports costs nothing at run time, so it is not counted; withTypes
 * counts them.)
 */
function importGraph(files: string[], withTypes = false): Map<string, string[]> {
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    graph.set(
      file,
      (withTypes ? allImports(file) : valueImports(file))
        .map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
        .filter((target) => known.has(target)),
    );
  }
  return graph;
}

/** Strongly connected components with more than one module (or a self-import): the cycles. */
export function importCycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

test('the cycle finder finds a three-module cycle and a self-import, and nothing in a chain', () => {
  const graph = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a', 'd']],
    ['d', []],
    ['e', ['e']],
  ]);
  const cycles = importCycles(graph).map((c) => [...c].sort());
  assert.deepEqual(cycles.sort(), [['a', 'b', 'c'], ['e']]);
  assert.deepEqual(
    importCycles(
      new Map([
        ['x', ['y']],
        ['y', []],
      ]),
    ),
    [],
  );
});

test('src/ has no import cycle among the modules Node loads', () => {
  const graph = importGraph(sourceFiles(srcRoot));
  // the graph sees real edges, and skips type-only ones
  assert.ok(!graph.get(join(srcRoot, 'main.ts'))?.includes(join(srcRoot, 'core/cli/command.ts')));
  assert.ok(graph.get(join(srcRoot, 'main.ts'))?.includes(join(srcRoot, 'core/cli/program.ts')));
  const cycles = importCycles(graph);
  assert.deepEqual(
    cycles.map((c) => c.map((f) => relative(srcRoot, f)).sort()),
    [],
    'modules that import each other, directly or through others',
  );
});

test('src/core imports nothing from src/plugins (core names no plugin)', () => {
  const core = join(srcRoot, 'core');
  const plugins = join(srcRoot, 'plugins');
  const graph = importGraph(sourceFiles(srcRoot), true);
  const offending = [...graph]
    .filter(([file]) => file.startsWith(core))
    .flatMap(([file, deps]) =>
      deps
        .filter((d) => d.startsWith(plugins))
        .map((d) => `${relative(srcRoot, file)} -> ${relative(srcRoot, d)}`),
    );
  assert.deepEqual(offending, []);
});

test('no import cycle either when type imports count', () => {
  const cycles = importCycles(importGraph(sourceFiles(srcRoot), true)).map((c) =>
    c.map((f) => relative(srcRoot, f)).sort(),
  );
  // config/ and plugin/ share PluginRef through the contracts; the CLI owns its extensions
  // (commands, doctor sections, run sources), so the runtime names nothing of the CLI
  assert.deepEqual(cycles, []);
});

test('plugins, examples and benchmarks import src/core only through the SDK (type imports too)', () => {
  const core = join(srcRoot, 'core');
  const dirs = [join(srcRoot, 'plugins'), join(repoRoot, 'examples'), join(repoRoot, 'bench')];
  const files = dirs.flatMap((d) => sourceFiles(d));
  assert.ok(files.length > 60, `${files.length} files`);
  // bench/ is scanned (its files import the SDK, and the entry point that re-exports it)
  assert.ok(files.filter((f) => f.startsWith(join(repoRoot, 'bench') + '/')).length >= 10);
  const offending = files.flatMap((file) =>
    allImports(file)
      .map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
      .filter((target) => target.startsWith(core + '/'))
      .map((target) => `${relative(repoRoot, file)} -> ${relative(repoRoot, target)}`),
  );
  assert.deepEqual(offending, []);
});

test('the plugin contracts are defined in src/sdk, and the host imports them from their modules', () => {
  const core = join(srcRoot, 'core');
  const sdkIndex = join(srcRoot, 'sdk', 'index.ts');
  const coreFiles = sourceFiles(core);
  // a contract is an exported `<Kind>Plugin` interface: none may be declared in the host
  const declared = coreFiles.flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/^export interface (\w+Plugin)\b/gm)].map(
      (m) => `${relative(srcRoot, file)}: ${m[1]}`,
    ),
  );
  assert.deepEqual(declared, []);
  const contracts = sourceFiles(join(srcRoot, 'sdk', 'contracts')).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/^export interface (\w+Plugin)\b/gm)].map((m) => m[1]),
  );
  assert.ok(contracts.length >= 8, contracts.join(', '));
  // the SDK's index re-exports host modules; the host reading it would close a loop
  const graph = importGraph(sourceFiles(srcRoot), true);
  const throughIndex = coreFiles
    .filter((file) => graph.get(file)?.includes(sdkIndex))
    .map((file) => relative(srcRoot, file));
  assert.deepEqual(throughIndex, []);
});

test("bench/ reaches src/ only through affectlab (src/index.ts, src/sdk) or a plugin's index", () => {
  const bench = join(repoRoot, 'bench');
  const files = sourceFiles(bench);
  const allowed = (target: string): boolean =>
    target === join(srcRoot, 'index.ts') ||
    target.startsWith(join(srcRoot, 'sdk') + '/') ||
    (target.startsWith(join(srcRoot, 'plugins') + '/') && target.endsWith('/index.ts'));
  const offending = files.flatMap((file) =>
    allImports(file)
      .map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
      .filter((target) => target.startsWith(srcRoot + '/') && !allowed(target))
      .map((target) => `${relative(repoRoot, file)} -> ${relative(repoRoot, target)}`),
  );
  assert.deepEqual(offending, []);
});
