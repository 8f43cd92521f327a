import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { before, test } from 'node:test';
import {
  AFFECTNET_CSV_COLUMNS,
  AFFECTNET_EXPRESSIONS,
  AFFECTNET_FILE_LISTS_DIR,
  AFFECTNET_IMAGES_DIR,
  CLASS_PRESET_NAMES,
  CLASS_PRESETS,
  resolveClassPreset,
} from '../../../src/plugins/datasets/affectnet/constants.js';
import { createAjv } from '../../../src/core/config/validate.js';
import { UserError } from '../../../src/sdk/errors.js';
import type { DatasetSplits, Example } from '../../../src/sdk/contracts/data.js';
import { affectnetOptionsSchema } from '../../../src/plugins/datasets/affectnet/options.js';
import { generateSyntheticAffectNet } from '../../../src/plugins/datasets/affectnet/synth.js';
import { tempDir, testRuntime } from '../../support/helpers.js';
import { buildAffectNet, readList, type CsvRow } from './fixtures.js';

const dir = tempDir('affectlab-affectnet-');
const root = join(dir, 'synth');
const PER_CLASS = 6;

before(async () => {
  await generateSyntheticAffectNet({
    out: root,
    count: 420,
    validationCount: 77,
    seed: 5,
    size: 48,
  });
});

function countByCode(rows: readonly CsvRow[], codes: readonly number[]): number[] {
  return codes.map((code) => rows.filter((r) => r.code === code).length);
}

function countByLabel(examples: readonly Example[], n: number): number[] {
  const counts = new Array<number>(n).fill(0);
  for (const e of examples) counts[e.label]++;
  return counts;
}

test('every class preset reads the set with the Table 3 split', async () => {
  const training = readList(root, 'training.csv').rows;
  const validation = readList(root, 'validation.csv').rows;
  for (const preset of CLASS_PRESET_NAMES) {
    const dataset = buildAffectNet({
      root,
      classes: preset,
      imageSize: 32,
      split: { validationPerClass: PER_CLASS },
    });
    const splits = await dataset.prepare();
    const codes: readonly number[] = CLASS_PRESETS[preset];
    assert.deepEqual(
      splits.task.classes.map((c) => c.code),
      [...codes],
      preset,
    );
    assert.deepEqual(
      splits.task.classes.map((c) => c.index),
      codes.map((_, i) => i),
      preset,
    );
    const available = countByCode(training, codes);
    const val = countByLabel(splits.validation, codes.length);
    const train = countByLabel(splits.train, codes.length);
    available.forEach((n, i) => {
      const expected = n > PER_CLASS ? PER_CLASS : Math.floor(n / 2);
      assert.equal(val[i], expected, `${preset} ${splits.task.classes[i].name}: validation`);
      assert.equal(
        train[i] + val[i],
        n,
        `${preset} ${splits.task.classes[i].name}: train + validation = training.csv`,
      );
    });
    assert.deepEqual(
      countByLabel(splits.test, codes.length),
      countByCode(validation, codes),
      `${preset}: test = validation.csv`,
    );
    assert.equal(splits.badRecords.total, 0);
    // train and validation are disjoint
    const trainIds = new Set(splits.train.map((e) => e.id));
    assert.ok(splits.validation.every((e) => !trainIds.has(e.id)));
    const description = splits.description as {
      classPreset: string;
      counts: { validation: Record<string, number> };
    };
    assert.equal(description.classPreset, preset);
    assert.equal(Object.keys(description.counts.validation).length, codes.length);
  }
});

test('examples carry absolute paths, the face box, the source line and valence/arousal', async () => {
  const splits = await buildAffectNet({
    root,
    classes: 'report6',
    split: { validationPerClass: PER_CLASS },
  }).prepare();
  const training = new Map(readList(root, 'training.csv').rows.map((r) => [r.path, r]));
  assert.deepEqual(splits.image, { height: 256, width: 256, channels: 3 });
  for (const e of [...splits.train.slice(0, 20), ...splits.validation.slice(0, 5)]) {
    const row = training.get(e.id);
    assert.ok(row, e.id);
    assert.equal(e.imagePath, join(root, AFFECTNET_IMAGES_DIR, e.id));
    assert.deepEqual(e.crop, {
      x: row.box[0],
      y: row.box[1],
      width: row.box[2],
      height: row.box[3],
    });
    assert.equal(e.source, `${join(root, AFFECTNET_FILE_LISTS_DIR, 'training.csv')}:${row.line}`);
    assert.equal(splits.task.classes[e.label].code, row.code);
    assert.equal(e.valence, row.valence);
  }
  const full = await buildAffectNet({
    root,
    crop: 'full',
    imageSize: [40, 30],
    channels: 1,
    split: { validationPerClass: PER_CLASS },
  }).prepare();
  assert.equal(full.train[0].crop, undefined);
  assert.deepEqual(full.image, { height: 40, width: 30, channels: 1 });
});

test('the split is a function of the seed', async () => {
  const options = { root, classes: 'affectnet8', split: { validationPerClass: PER_CLASS } };
  const ids = (s: DatasetSplits): string[] => s.validation.map((e) => e.id);
  const a = await buildAffectNet(options, 1).prepare();
  const b = await buildAffectNet(options, 1).prepare();
  const c = await buildAffectNet(options, 2).prepare();
  assert.deepEqual(ids(a), ids(b));
  assert.notDeepEqual(ids(a), ids(c));
});

test('explicit class lists, official split, limits and maxTrainPerClass', async () => {
  const training = readList(root, 'training.csv').rows;
  const validation = readList(root, 'validation.csv').rows;
  const explicit = await buildAffectNet({
    root,
    classes: ['Anger', 1],
    split: { validationPerClass: PER_CLASS },
  }).prepare();
  assert.deepEqual(explicit.task.classes, resolveClassPreset([6, 1]));
  assert.equal(
    explicit.train.length + explicit.validation.length,
    training.filter((r) => r.code === 6 || r.code === 1).length,
  );

  const official = await buildAffectNet({
    root,
    classes: 'basic7',
    split: { policy: 'official' },
  }).prepare();
  const basic7 = [0, 1, 2, 3, 4, 5, 6];
  // validation: a stratified hold-out of validationFraction (default 0.05) of each class of
  // training.csv; the test set is validation.csv, never scored while training
  const trainingCounts = countByCode(training, basic7);
  const heldOut = trainingCounts.map((n) => Math.round(n * 0.05));
  assert.ok(heldOut.some((n) => n > 0));
  assert.deepEqual(countByLabel(official.validation, 7), heldOut);
  assert.deepEqual(
    countByLabel(official.train, 7),
    trainingCounts.map((n, c) => n - heldOut[c]),
  );
  assert.deepEqual(countByLabel(official.test, 7), countByCode(validation, basic7));
  const trainingPaths = new Set(training.map((r) => r.path));
  assert.ok(official.validation.every((e) => trainingPaths.has(e.id)));
  assert.ok(!official.test.some((e) => official.validation.some((v) => v.id === e.id)));
  const trainIds = new Set(official.train.map((e) => e.id));
  assert.ok(!official.validation.some((e) => trainIds.has(e.id)));
  const wider = await buildAffectNet({
    root,
    classes: 'basic7',
    split: { policy: 'official', validationFraction: 0.2 },
  }).prepare();
  assert.deepEqual(
    countByLabel(wider.validation, 7),
    trainingCounts.map((n) => Math.round(n * 0.2)),
  );
  assert.deepEqual(
    (official.description as { split: { validationSource: string; testSource: string } }).split,
    {
      ...(official.description as { split: object }).split,
      validationSource: 'training.csv',
      testSource: 'validation.csv',
    },
  );

  const limited = await buildAffectNet({
    root,
    split: { validationPerClass: PER_CLASS, maxTrainPerClass: 10, limit: { train: 25, test: 7 } },
  }).prepare();
  assert.equal(limited.train.length, 25);
  assert.equal(limited.validation.length, 6 * PER_CLASS);
  assert.equal(limited.test.length, 7);
  const capped = await buildAffectNet({
    root,
    split: { validationPerClass: PER_CLASS, maxTrainPerClass: 10 },
  }).prepare();
  assert.ok(countByLabel(capped.train, 6).every((n) => n <= 10));
});

test('valence-arousal tasks drop rows without valence/arousal and count them', async () => {
  const training = readList(root, 'training.csv').rows;
  const va = await buildAffectNet({
    root,
    classes: 'affectnet11',
    task: 'valence-arousal',
    split: { policy: 'official' },
  }).prepare();
  assert.equal(va.task.kind, 'valence-arousal');
  assert.deepEqual(va.task.classes, []);
  assert.ok(
    va.train.every((e) => e.label === -1 && e.valence !== undefined && e.arousal !== undefined),
  );
  const withValue = training.filter(
    (r) => r.valence >= -1 && r.valence <= 1 && r.arousal >= -1 && r.arousal <= 1,
  );
  // the strata a sampler can balance: the expression categories that kept training images
  const codesWithValue = [...new Set(withValue.map((r) => r.code))].sort((a, b) => a - b);
  assert.deepEqual(
    va.task.strata?.map((s) => s.code),
    codesWithValue,
  );
  assert.deepEqual(
    va.task.strata?.map((s) => s.index),
    codesWithValue.map((_, i) => i),
  );
  const codeOfPath = new Map(training.map((r) => [r.path, r.code]));
  assert.ok(
    va.train.every(
      (e) => e.stratum !== undefined && va.task.strata?.[e.stratum].code === codeOfPath.get(e.id),
    ),
    'each example carries the stratum of its expression',
  );
  assert.equal(va.train.length + va.validation.length, withValue.length);
  const counts = (va.description as { fileListCounts: { training: { noValenceArousal: number } } })
    .fileListCounts.training;
  assert.equal(counts.noValenceArousal, training.length - withValue.length);
  assert.ok(counts.noValenceArousal > 0);
  const both = await buildAffectNet({
    root,
    classes: 'affectnet8',
    task: 'expression+valence-arousal',
    split: { validationPerClass: PER_CLASS },
  }).prepare();
  assert.equal(both.task.classes.length, 8);
  assert.ok(both.train.every((e) => e.label >= 0 && e.valence !== undefined));
});

/** A root whose file lists are written by the test and whose images are the synthetic ones. */
function rootWithLists(name: string, trainingLines: string[], validationLines?: string[]): string {
  const custom = join(dir, name);
  mkdirSync(join(custom, AFFECTNET_FILE_LISTS_DIR), { recursive: true });
  symlinkSync(join(root, AFFECTNET_IMAGES_DIR), join(custom, AFFECTNET_IMAGES_DIR));
  const header = AFFECTNET_CSV_COLUMNS.join(',');
  const write = (file: string, lines: string[]): void =>
    writeFileSync(
      join(custom, AFFECTNET_FILE_LISTS_DIR, file),
      [header, ...lines].join('\n') + '\n',
    );
  write('training.csv', trainingLines);
  const original = readFileSync(join(root, AFFECTNET_FILE_LISTS_DIR, 'validation.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1);
  write('validation.csv', validationLines ?? original);
  return custom;
}

test('every bad-record case is counted with its file:line', async () => {
  const good = readFileSync(join(root, AFFECTNET_FILE_LISTS_DIR, 'training.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1);
  const fields = (i: number): string[] => good[i].split(',');
  const withField = (i: number, index: number, value: string): string => {
    const f = fields(i);
    f[index] = value;
    return f.join(',');
  };
  const lines = [
    good[0], // line 2
    fields(1).slice(0, 6).join(','), // 3: missing fields
    withField(2, 1, 'abc'), // 4: non-numeric
    withField(3, 6, '12'), // 5: code out of range
    withField(4, 0, '../escape.jpg'), // 6: path escapes
    withField(5, 0, '/etc/hostname'), // 7: absolute path
    withField(6, 0, '1/no-such-image.jpg'), // 8: missing image
    withField(7, 3, '-5'), // 9: invalid box
    good[8] + ',extra', // 10: too many fields
    withField(9, 5, `"${fields(9)[5]}"`), // 11: quoted landmarks: fine
    '', // 12: blank: ignored
    withField(10, 7, ''), // 13: empty valence
    ...good.slice(11, 40),
  ];
  const custom = rootWithLists('bad', lines);
  const csv = join(custom, AFFECTNET_FILE_LISTS_DIR, 'training.csv');
  const splits = await buildAffectNet({
    root: custom,
    classes: 'affectnet11',
    split: { policy: 'official' },
    // 9 of 40 is far over the default bound; here every case must be counted, not stop the run
    maxBadFraction: 0.5,
  }).prepare();
  const { badRecords } = splits;
  assert.deepEqual(badRecords.byReason, {
    'missing field': 2,
    'non-numeric value': 1,
    'expression code out of range': 1,
    'path escapes the image root': 2,
    'missing image file': 1,
    'invalid face box': 1,
    'too many fields': 1,
  });
  assert.equal(badRecords.total, 9);
  const sources = badRecords.examples.map((e) => e.source);
  for (const line of [3, 4, 5, 6, 7, 8, 9, 10, 13])
    assert.ok(sources.includes(`${csv}:${line}`), `line ${line} reported`);
  assert.ok(!sources.includes(`${csv}:11`), 'quoted landmarks are fine');
  // the good rows all made it: lines 2 and 11, and the 29 after the blank
  assert.equal(splits.train.length, 2 + 29);
  assert.ok(splits.train.every((e) => e.imagePath.startsWith(join(custom, AFFECTNET_IMAGES_DIR))));
  assert.ok(!splits.train.some((e) => e.id.includes('..')));

  await assert.rejects(
    buildAffectNet({ root: custom, classes: 'affectnet11', onBadRecord: 'fail' }).prepare(),
    (e: unknown) => e instanceof UserError && e.message.startsWith(`${csv}:3: missing field`),
  );
});

test('a path escaping the root is refused even with onBadRecord: skip, and never read', async () => {
  const good = readFileSync(join(root, AFFECTNET_FILE_LISTS_DIR, 'training.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1);
  const escape = good[0].split(',');
  // points at a real file outside the image root
  escape[0] = `1/../../${AFFECTNET_FILE_LISTS_DIR}/training.csv`;
  const custom = rootWithLists('escape', [escape.join(','), ...good.slice(1, 30)]);
  const splits = await buildAffectNet({
    root: custom,
    classes: 'affectnet11',
    split: { policy: 'official' },
  }).prepare();
  assert.equal(splits.badRecords.byReason['path escapes the image root'], 1);
  assert.ok(splits.train.every((e) => !e.imagePath.includes(AFFECTNET_FILE_LISTS_DIR)));
  await assert.rejects(
    buildAffectNet({ root: custom, classes: 'affectnet11', onBadRecord: 'fail' }).prepare(),
    /training\.csv:2: path escapes the image root/,
  );
});

test('a wrong root fails fast with the fix in the message', async () => {
  const empty = tempDir('affectlab-noroot-');
  await assert.rejects(
    buildAffectNet({ root: empty }).prepare(),
    (e: unknown) =>
      e instanceof UserError &&
      e.message.startsWith(`no training.csv under ${empty}; set AFFECTNET_ROOT or dataset.root`) &&
      e.message.includes('set AFFECTNET_ROOT or dataset.root'),
  );
  delete process.env.AFFECTLAB_TEST_UNSET_ROOT;
  await assert.rejects(
    buildAffectNet({ root: '${env:AFFECTLAB_TEST_UNSET_ROOT}' }).prepare(),
    /AFFECTLAB_TEST_UNSET_ROOT is not set; set AFFECTNET_ROOT or dataset.root/,
  );
  // a bad header is named with its file
  const custom = join(dir, 'badheader');
  mkdirSync(join(custom, AFFECTNET_FILE_LISTS_DIR), { recursive: true });
  mkdirSync(join(custom, AFFECTNET_IMAGES_DIR));
  writeFileSync(join(custom, AFFECTNET_FILE_LISTS_DIR, 'training.csv'), 'path,label\n');
  writeFileSync(join(custom, AFFECTNET_FILE_LISTS_DIR, 'validation.csv'), 'path,label\n');
  await assert.rejects(
    buildAffectNet({ root: custom }).prepare(),
    /training\.csv:1: unexpected header/,
  );
});

test('root from the environment and relative to the working directory', async () => {
  // the default root, ${env:AFFECTNET_ROOT}, is interpolated by the runtime like a written one
  const file = join(dir, 'no-root.yaml');
  writeFileSync(
    file,
    'name: no-root\ndataset: { type: affectnet }\narchitecture: { type: vgg-type }\n' +
      'training: { epochs: 1 }\n',
  );
  const resolved = await testRuntime().resolve(file, { env: { AFFECTNET_ROOT: root } });
  assert.equal(resolved.config.dataset.root, root);
  await assert.rejects(
    testRuntime().resolve(file, { env: {} }),
    /\$\.dataset\.root: environment variable AFFECTNET_ROOT is not set.*affectlab synth/s,
  );
  const rel = relative(process.cwd(), root);
  const fromRelative = await buildAffectNet({
    root: rel,
    split: { validationPerClass: PER_CLASS },
  }).prepare();
  assert.equal((fromRelative.description as { root: string }).root, root);
});

test('the options schema fills every default and rejects bad options', () => {
  const validate = createAjv().compile({ ...affectnetOptionsSchema, additionalProperties: false });
  const options: Record<string, unknown> = {};
  assert.ok(validate(options));
  // the documented defaults, written out (not read back from the schema under test)
  assert.deepEqual(options, {
    root: '${env:AFFECTNET_ROOT}',
    classes: 'report6',
    task: 'classification',
    imageSize: 256,
    channels: 3,
    crop: 'face-box',
    margin: 0.1,
    split: { policy: 'report-table3', validationPerClass: 500, validationFraction: 0.05 },
    onBadRecord: 'skip',
    maxBadFraction: 0.05,
    augment: { flip: true, shift: 0.05, rotate: 10, brightness: 0.1, contrast: 0.1 },
  });
  for (const bad of [
    { classes: 'report7' },
    { imageSize: [32] },
    { channels: 2 },
    { split: { policy: 'random' } },
    { augment: { flip: 'yes' } },
    { margin: -1 },
  ]) {
    assert.equal(validate(structuredClone(bad)), false, JSON.stringify(bad));
  }
  assert.ok(validate({ classes: [0, 'Happy'], imageSize: [48, 40] }));
  const runtime = testRuntime();
  assert.ok(runtime.registry.has('dataset', 'affectnet'));
  assert.equal(AFFECTNET_EXPRESSIONS.length, 11);
});
