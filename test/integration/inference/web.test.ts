import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import sharp from 'sharp';
import { parseCsvText as parseCsv } from '../../../src/core/pipeline/csv.js';
import { affectlab } from '../../support/cli.js';
import { tempDir } from '../../support/helpers.js';
import { serveFolder } from '../../support/static-server.js';
import { tinyTrainedRun } from '../../support/trained-run.js';

/**
 * The web export in a real browser: Debian's chromium (installed by .ci/run), driven by
 * puppeteer-core. AFFECTLAB_CHROMIUM names another binary; AFFECTLAB_SKIP_BROWSER=1 skips.
 */
const chromium = process.env.AFFECTLAB_CHROMIUM ?? '/usr/bin/chromium';
const skip = process.env.AFFECTLAB_SKIP_BROWSER === '1';
const TOLERANCE = 1e-4;

interface PageResult {
  source: string;
  count: number;
  backend: string;
  probabilities?: number[];
  label?: string;
}

const work = tempDir('affectlab-web-');
const photo = join(
  dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')),
  'demo',
  'sample2.jpg',
);

describe('export --format web in headless Chromium', { skip }, () => {
  let browser: Browser | undefined;
  let server: { url: string; close: () => Promise<void> } | undefined;
  let runDir = '';
  let webDir = '';
  const faces: string[] = [];

  before(async () => {
    if (!existsSync(chromium))
      throw new Error(
        `no Chromium at ${chromium}: apt-get install chromium (what .ci/run does), set AFFECTLAB_CHROMIUM, ` +
          'or skip with AFFECTLAB_SKIP_BROWSER=1',
      );
    let synth = '';
    ({ runDir, synth } = await tinyTrainedRun(work, 'web', { steps: 30, learningRate: 0.01 }));
    const exported = affectlab(['export', '--run', runDir, '--format', 'web']);
    assert.equal(exported.code, 0, exported.stderr);
    webDir = exported.stdout.trim().replace(/\/index\.html$/, '');
    assert.deepEqual(readdirSync(webDir).sort(), [
      'affectlab-model.json',
      'app.js',
      'index.html',
      'model',
      'tf.min.js',
    ]);
    // two faces at the model's input size (48 px PNG): decoded alike by sharp and the browser
    // and not resized by either, so the page and predict see the same pixels
    const imagesDir = join(synth, 'Manually_Annotated_Images');
    const folder = readdirSync(imagesDir).sort()[0];
    for (const [i, name] of readdirSync(join(imagesDir, folder)).sort().slice(0, 2).entries()) {
      const file = join(work, `face${i}.png`);
      await sharp(join(imagesDir, folder, name))
        .resize(48, 48)
        .png()
        .toFile(file);
      faces.push(file);
    }
    server = await serveFolder(webDir);
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      args: [
        '--no-sandbox',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
      ],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function openPage(query = ''): Promise<Page> {
    const page = await (browser as Browser).newPage();
    await page.goto(`${(server as { url: string }).url}${query}`);
    await page.waitForFunction(
      'window.affectlab && (window.affectlab.classify || window.affectlab.error)',
    );
    const error = await page.evaluate('window.affectlab.error');
    assert.equal(error, undefined, String(error));
    return page;
  }

  async function upload(page: Page, file: string): Promise<PageResult> {
    const before = (await page.evaluate(
      'window.affectlab.last ? window.affectlab.last.count : 0',
    )) as number;
    const input = await page.$('#file');
    assert.ok(input);
    await input.uploadFile(file);
    await page.waitForFunction(
      `(window.affectlab.last && window.affectlab.last.count > ${before}) || window.affectlab.error`,
    );
    return (await page.evaluate('window.affectlab.last')) as PageResult;
  }

  function predicted(files: string[]): number[][] {
    const r = affectlab(['predict', '--run', runDir, ...files, '--detector', 'none']);
    assert.equal(r.code, 0, r.stderr);
    return parseCsv(r.stdout, 'stdout').records.map((row) => row.cells.slice(2).map(Number));
  }

  const maxDiff = (a: number[], b: number[]): number =>
    Math.max(...a.map((v, i) => Math.abs(v - b[i])));

  it('classifies an uploaded image as affectlab predict does, to 1e-4', async () => {
    const expected = predicted(faces);
    // the two faces' predictions differ by far more than the tolerance: agreement is not luck
    const spread = maxDiff(expected[0], expected[1]);
    process.stdout.write(`# the two faces' predictions differ by ${spread}\n`);
    assert.ok(spread > 10 * TOLERANCE, JSON.stringify(expected));
    for (const query of ['', '?backend=cpu']) {
      const page = await openPage(query);
      for (const [i, face] of faces.entries()) {
        const got = await upload(page, face);
        assert.ok(got.probabilities, JSON.stringify(got));
        const diff = maxDiff(got.probabilities, expected[i]);
        assert.ok(
          diff < TOLERANCE,
          `backend ${got.backend}, face ${i}: page ${JSON.stringify(got.probabilities)} vs predict ${JSON.stringify(expected[i])} (max diff ${diff})`,
        );
        process.stdout.write(`# backend ${got.backend}, face ${i}: max difference ${diff}\n`);
        const shown = await page.$$eval('#result tr', (rows) => rows.length);
        assert.equal(shown, expected[i].length);
      }
      await page.close();
    }
  });

  it("loads a model with affectlab's own layers (AlexNet's local response normalisation)", async () => {
    const alex = await tinyTrainedRun(work, 'web-alexnet', {
      architecture: '{ type: alexnet, fcUnits: 8 }',
      imageSize: 67,
    });
    const out = join(work, 'web-alexnet');
    const exported = affectlab(['export', '--run', alex.runDir, '--format', 'web', '--out', out]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(
      readFileSync(join(out, 'model', 'model.json'), 'utf8'),
      /LocalResponseNormalization/,
    );
    const face = join(work, 'face-67.png');
    await sharp(faces[0]).resize(67, 67).png().toFile(face);
    const r = affectlab(['predict', '--run', alex.runDir, face, '--detector', 'none']);
    assert.equal(r.code, 0, r.stderr);
    const expected = parseCsv(r.stdout, 'stdout').records[0].cells.slice(2).map(Number);
    const alexServer = await serveFolder(out);
    try {
      const page = await (browser as Browser).newPage();
      await page.goto(alexServer.url);
      await page.waitForFunction(
        'window.affectlab && (window.affectlab.classify || window.affectlab.error)',
      );
      assert.equal(await page.evaluate('window.affectlab.error'), undefined);
      const got = await upload(page, face);
      const diff = maxDiff(got.probabilities ?? [], expected);
      process.stdout.write(`# alexnet, backend ${got.backend}: max difference ${diff}\n`);
      assert.ok(
        diff < TOLERANCE,
        `page ${JSON.stringify(got.probabilities)} vs predict ${JSON.stringify(expected)}`,
      );
      await page.close();
    } finally {
      await alexServer.close();
    }
  });

  it('classifies a large photograph and a webcam frame', async () => {
    const page = await openPage();
    const got = await upload(page, photo);
    assert.ok(got.probabilities);
    assert.ok(Math.abs(got.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    // the browser's downscaling filter is not libvips': close, not equal (the diff is printed)
    const diff = maxDiff(got.probabilities, predicted([photo])[0]);
    process.stdout.write(`# 1920 px photo, page vs predict: max probability difference ${diff}\n`);
    assert.ok(diff < 0.05, String(diff));
    await page.click('#webcam');
    await page.waitForFunction(
      "(window.affectlab.last && window.affectlab.last.source === 'webcam') || window.affectlab.error",
    );
    const frame = (await page.evaluate('window.affectlab.last')) as PageResult;
    assert.equal(
      frame.source,
      'webcam',
      JSON.stringify(await page.evaluate('window.affectlab.error')),
    );
    assert.ok(Math.abs((frame.probabilities ?? []).reduce((a, b) => a + b, 0) - 1) < 1e-5);
    await page.close();
  });
});
