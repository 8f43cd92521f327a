// Rewrites imports of src/core/** in src/plugins, bench and examples to the SDK when the SDK
// exports every imported name. Usage: node sdk-imports.mjs [--write]   (run from the repo root)
import ts from 'typescript';
import { readFileSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
const write = process.argv.includes('--write');
const root = process.cwd();
const sdkFile = resolve(root, 'src/sdk/index.ts');
const files = [];
const walk = (d) => { for (const n of readdirSync(d)) { const p = join(d, n); if (n === 'node_modules' || n.startsWith('.')) continue; if (statSync(p).isDirectory()) walk(p); else if (/\.ts$/.test(p) && !p.endsWith('.d.ts')) files.push(resolve(p)); } };
for (const d of (process.env.DIRS ?? 'src/plugins,examples').split(',')) walk(d);
const skip = new RegExp(process.env.SKIP ?? '^$');
for (let i = files.length - 1; i >= 0; i--) if (skip.test(relative(root, files[i]))) files.splice(i, 1);
const program = ts.createProgram([sdkFile, ...files], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, experimentalDecorators: true, allowJs: false });
const checker = program.getTypeChecker();
const sdkSymbol = checker.getSymbolAtLocation(program.getSourceFile(sdkFile));
const sdkNames = new Set(checker.getExportsOfModule(sdkSymbol).map((s) => s.name));
const missing = new Map();
let changed = 0;
for (const file of files) {
  const sf = program.getSourceFile(file);
  const text = sf.text;
  const edits = [];
  const gathered = [];
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) && !(ts.isExportDeclaration(st) && st.moduleSpecifier)) continue;
    const spec = st.moduleSpecifier.text;
    if (!spec.startsWith('.')) continue;
    const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
    if (!target.startsWith(resolve(root, 'src/core') + '/')) continue;
    if (ts.isExportDeclaration(st)) { missing.set(`${relative(root, file)}: export from ${spec}`, 1); continue; }
    const clause = st.importClause;
    const names = [];
    let ok = !!clause && !clause.name && clause.namedBindings && ts.isNamedImports(clause.namedBindings);
    if (ok) for (const el of clause.namedBindings.elements) {
      const name = (el.propertyName ?? el.name).text;
      if (!sdkNames.has(name)) { ok = false; missing.set(`${relative(root, target)}: ${name}`, (missing.get(`${relative(root, target)}: ${name}`) ?? 0) + 1); }
      names.push({ text: el.getText(sf), type: clause.isTypeOnly || el.isTypeOnly });
    }
    if (!ok) { if (clause && (clause.name || (clause.namedBindings && !ts.isNamedImports(clause.namedBindings)))) missing.set(`${relative(root, file)}: non-named import of ${spec}`, 1); continue; }
    edits.push(st);
    for (const n of names) gathered.push(n.type && !n.text.startsWith('type ') ? `type ${n.text}` : n.text);
  }
  if (edits.length === 0) continue;
  changed++;
  let sdkSpec = relative(dirname(file), sdkFile).replace(/\.ts$/, '.js');
  if (!sdkSpec.startsWith('.')) sdkSpec = './' + sdkSpec;
  const allType = gathered.every((g) => g.startsWith('type '));
  const items = [...new Set(allType ? gathered.map((g) => g.slice(5)) : gathered)];
  const decl = `import ${allType ? 'type ' : ''}{ ${items.join(', ')} } from '${sdkSpec}';`;
  let out = text;
  // remove from the end so positions hold; the new import goes where the first one was
  const sorted = [...edits].sort((a, b) => b.getStart(sf) - a.getStart(sf));
  for (const st of sorted) {
    const first = st === edits[0];
    let end = st.end;
    if (!first && out[end] === '\n') end++;
    out = out.slice(0, st.getStart(sf)) + (first ? decl : '') + out.slice(end);
  }
  if (write) writeFileSync(file, out);
}
console.log(`${changed} files ${write ? 'rewritten' : 'would change'}`);
for (const [k] of [...missing].sort()) console.log('not in the SDK:', k);
