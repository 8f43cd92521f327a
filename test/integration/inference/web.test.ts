import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import sharp from 'sharp';
import { parseCsvText as parseCsv } from '../../../src/core/pipeline/csv.js';
import type { FaceBox } from '../../../src/sdk/contracts/data.js';
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
/**
 * Faces: the page finds them with face-api's browser build on WebGL or tfjs' CPU backend and
 * predict with tfjs-node; boxes and landmarks differ in their last digits, the prepared pixels
 * not at all (or by 1 in rare values), so the probabilities agree far below the 1e-3 asked.
 */
const FACE_TOLERANCE = 1e-4;

interface PageFace {
  index: number;
  box: FaceBox;
  score: number;
  probabilities: number[];
}

interface PageResult {
  source: string;
  count: number;
  backend: string;
  /** 'none' (the whole image as one face) or the detector's type. */
  detector: string;
  faces: PageFace[];
  /** The size of the image or frame classified. */
  width: number;
  height: number;
  probabilities?: number[];
  label?: string;
}

const work = tempDir('affectlab-web-');
const demo = (name: string): string =>
  join(
    dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')),
    'demo',
    name,
  );
/** Five faces, all scored above 0.9 by the detector (no face near its threshold). */
const photo = demo('sample5.jpg');

/** The rows `affectlab predict` (its default detector) writes for a photo: box and probabilities. */
function predictedFaces(runDir: string, file: string): { box: FaceBox; probabilities: number[] }[] {
  const r = affectlab(['predict', '--run', runDir, file]);
  assert.equal(r.code, 0, r.stderr);
  const { header, records } = parseCsv(r.stdout, 'stdout');
  const first = header.indexOf('pred') + 1;
  return records.map((row) => {
    const [x, y, width, height] = row.cells.slice(2, 6).map(Number);
    return { box: { x, y, width, height }, probabilities: row.cells.slice(first).map(Number) };
  });
}

function iou(a: FaceBox, b: FaceBox): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  const inter = Math.max(0, w) * Math.max(0, h);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/**
 * A photo as a one-frame Y4M video (I420, BT.601 studio range) for Chromium's fake webcam,
 * `width` x `height` (both even), and that frame as a PNG (`png`) for predict.
 */
async function y4m(
  file: string,
  out: string,
  png: string,
  width: number,
  height: number,
): Promise<void> {
  const frame = sharp(file).resize(width, height, { fit: 'cover' }).removeAlpha();
  await frame.clone().png().toFile(png);
  const rgb = await frame.raw().toBuffer();
  const y = Buffer.alloc(width * height);
  const u = Buffer.alloc((width / 2) * (height / 2));
  const v = Buffer.alloc(u.length);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = [rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]];
    y[i] = Math.round(16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256);
  }
  for (let j = 0; j < height / 2; j++)
    for (let i = 0; i < width / 2; i++) {
      const at = 3 * (2 * j * width + 2 * i);
      const [r, g, b] = [rgb[at], rgb[at + 1], rgb[at + 2]];
      u[j * (width / 2) + i] = Math.round(128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256);
      v[j * (width / 2) + i] = Math.round(128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256);
    }
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1 C420jpeg\nFRAME\n`);
  writeFileSync(out, Buffer.concat([header, y, u, v]));
}

describe('export --format web in headless Chromium', { skip }, () => {
  let browser: Browser | undefined;
  let server: { url: string; close: () => Promise<void> } | undefined;
  let runDir = '';
  let webDir = '';
  const faces: string[] = [];
  const webcamFrame = join(work, 'webcam-frame.png');

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
      'detector.json',
      'face-api-model',
      'face-api.esm-nobundle.js',
      'index.html',
      'lib',
      'model',
      'tf.fesm.min.js',
    ]);
    // candidate faces at the model's input size (48 px PNG): decoded alike by sharp and the
    // browser and not resized by either, so the page and predict see the same pixels; the test
    // keeps the two the tiny run tells apart best
    const imagesDir = join(synth, 'Manually_Annotated_Images');
    const folder = readdirSync(imagesDir).sort()[0];
    for (const [i, name] of readdirSync(join(imagesDir, folder)).sort().slice(0, 8).entries()) {
      const file = join(work, `face${i}.png`);
      await sharp(join(imagesDir, folder, name))
        .resize(48, 48)
        .png()
        .toFile(file);
      faces.push(file);
    }
    server = await serveFolder(webDir);
    // the fake webcam shows a demo photo, so the stream has faces to find
    const webcam = join(work, 'webcam.y4m');
    await y4m(demo('sample1.jpg'), webcam, webcamFrame, 720, 480);
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      args: [
        '--no-sandbox',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-video-capture=${webcam}`,
      ],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function openPage(query = '', url = (server as { url: string }).url): Promise<Page> {
    const page = await (browser as Browser).newPage();
    await page.goto(`${url}${query}`);
    await page.waitForFunction(
      'window.affectlab && (window.affectlab.classify || window.affectlab.error)',
    );
    const error = await page.evaluate('window.affectlab.error');
    assert.equal(error, undefined, String(error));
    return page;
  }

  /** The page's next result after `act` (an upload, a click) for which `until` holds. */
  async function nextResult(
    page: Page,
    act: () => Promise<void>,
    until = 'true',
  ): Promise<PageResult> {
    const before = (await page.evaluate(
      'window.affectlab.last ? window.affectlab.last.count : 0',
    )) as number;
    await act();
    await page.waitForFunction(
      `(window.affectlab.last && window.affectlab.last.count > ${before} && ${until}) || window.affectlab.error`,
      // polled on a timer: while the page computes, animation frames come late
      { timeout: 240_000, polling: 250 },
    );
    assert.equal(await page.evaluate('window.affectlab.error'), undefined);
    return (await page.evaluate('window.affectlab.last')) as PageResult;
  }

  /**
   * Start the webcam, take the first frame's result and stop the stream, in one call into the
   * page: while the stream runs the page computes frame after frame on the CPU backend, and
   * every call from here would wait for a frame to finish.
   */
  async function firstWebcamFrame(page: Page): Promise<PageResult> {
    return (await page.evaluate(`new Promise((resolve, reject) => {
      const before = window.affectlab.last ? window.affectlab.last.count : 0;
      const button = document.getElementById('webcam');
      button.click();
      const timer = setInterval(() => {
        const last = window.affectlab.last;
        if (window.affectlab.error) reject(new Error(window.affectlab.error));
        else if (last && last.count > before && last.source === 'webcam') resolve(last);
        else return;
        clearInterval(timer);
        button.click();
      }, 50);
    })`)) as PageResult;
  }

  async function upload(page: Page, file: string): Promise<PageResult> {
    const input = await page.$('#file');
    assert.ok(input);
    return nextResult(page, () => input.uploadFile(file));
  }

  /** The colour of the page's canvas at some points (image pixels). */
  async function colours(page: Page, points: [number, number][]): Promise<number[][]> {
    return (await page.evaluate(
      `(() => {
        const context = document.getElementById('view').getContext('2d');
        return ${JSON.stringify(points)}.map(([x, y]) =>
          Array.from(context.getImageData(x, y, 1, 1).data.slice(0, 3)));
      })()`,
    )) as number[][];
  }

  /**
   * The page's faces against predict's rows: as many, each matched by its box (IoU), the
   * probabilities within `tolerance`, each box drawn in green (the middles of its left, right
   * and bottom edges; the label sits on the top one). Returns the largest difference.
   */
  async function assertFacesAsPredict(
    page: Page,
    got: PageResult,
    expected: { box: FaceBox; probabilities: number[] }[],
    tolerance: number,
    what: string,
  ): Promise<number> {
    assert.equal(got.detector, 'face-api');
    assert.equal(
      got.faces.length,
      expected.length,
      `${what}: page ${got.faces.length} faces, predict ${expected.length}`,
    );
    assert.ok(expected.length >= 3, `${what}: predict found ${expected.length} faces`);
    let worst = 0;
    const matched = new Set<number>();
    for (const face of got.faces) {
      const ious = expected.map((e) => iou(e.box, face.box));
      const best = ious.indexOf(Math.max(...ious));
      assert.ok(
        ious[best] > 0.99,
        `${what}: face ${face.index} ${JSON.stringify(face.box)}: best IoU ${ious[best]}`,
      );
      assert.ok(!matched.has(best), `${what}: two faces match predict's row ${best}`);
      matched.add(best);
      const diff = maxDiff(face.probabilities, expected[best].probabilities);
      worst = Math.max(worst, diff);
      assert.ok(
        diff < tolerance,
        `${what}, face ${face.index}: page ${JSON.stringify(face.probabilities)} vs predict ${JSON.stringify(expected[best].probabilities)}`,
      );
      const { x, y, width, height } = face.box;
      const edges: [number, number][] = [
        [Math.round(x), Math.round(y + height / 2)],
        [Math.round(x + width), Math.round(y + height / 2)],
        [Math.round(x + width / 2), Math.round(y + height)],
      ];
      for (const [i, [r, g, b]] of (await colours(page, edges)).entries())
        assert.ok(
          g > 200 && r < 60 && b < 60,
          `${what}: no box drawn at ${edges[i]} (${[r, g, b]})`,
        );
    }
    // the faces' predictions differ from each other by far more than from predict's
    let spread = 0;
    for (const a of expected)
      for (const b of expected)
        spread = Math.max(spread, maxDiff(a.probabilities, b.probabilities));
    process.stdout.write(
      `# ${what}: ${got.faces.length} faces, page vs predict max difference ${worst}; faces differ by ${spread}\n`,
    );
    assert.ok(
      spread > 10 * worst,
      `${what}: faces differ by ${spread}, page and predict by ${worst}`,
    );
    return worst;
  }

  function predicted(files: string[]): number[][] {
    const r = affectlab(['predict', '--run', runDir, ...files, '--detector', 'none']);
    assert.equal(r.code, 0, r.stderr);
    return parseCsv(r.stdout, 'stdout').records.map((row) => row.cells.slice(2).map(Number));
  }

  const maxDiff = (a: number[], b: number[]): number =>
    Math.max(...a.map((v, i) => Math.abs(v - b[i])));

  it('classifies an uploaded image as affectlab predict does, to 1e-4', async () => {
    // of the candidates, the two faces whose predictions differ most (a 30-step run scores many
    // faces alike); they must differ by far more than the tolerance: agreement is not luck
    const all = predicted(faces);
    let pair: [number, number] = [0, 1];
    for (let i = 0; i < all.length; i++)
      for (let j = i + 1; j < all.length; j++)
        if (maxDiff(all[i], all[j]) > maxDiff(all[pair[0]], all[pair[1]])) pair = [i, j];
    faces.splice(0, faces.length, faces[pair[0]], faces[pair[1]]);
    const expected = [all[pair[0]], all[pair[1]]];
    const spread = maxDiff(expected[0], expected[1]);
    process.stdout.write(`# the two faces' predictions differ by ${spread}\n`);
    assert.ok(spread > 10 * TOLERANCE, JSON.stringify(expected));
    for (const query of ['?detector=none', '?backend=cpu&detector=none']) {
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
        assert.equal(got.detector, 'none');
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
      await page.goto(`${alexServer.url}?detector=none`);
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

  it('finds the faces of a demo photo as predict does: boxes drawn, probabilities to 1e-4', async () => {
    const expected = predictedFaces(runDir, photo);
    // tfjs' CPU backend: headless Chromium's WebGL is SwiftShader, on which face-api took 5x
    // longer (same results: 7.5e-8 from predict on this photo)
    const page = await openPage('?backend=cpu');
    assert.equal(await page.evaluate("document.getElementById('detect').checked"), true);
    const got = await upload(page, photo);
    await assertFacesAsPredict(page, got, expected, FACE_TOLERANCE, `sample5.jpg, ${got.backend}`);

    // the webcam stream (Chromium's fake camera showing sample1.jpg at 720x480): each frame's
    // faces found and drawn, as many as predict finds in that frame
    const frame = await firstWebcamFrame(page);
    assert.equal(frame.detector, 'face-api');
    assert.deepEqual([frame.width, frame.height], [720, 480]);
    const inFrame = predictedFaces(runDir, webcamFrame);
    assert.equal(frame.faces.length, inFrame.length, JSON.stringify(frame.faces.map((f) => f.box)));
    assert.ok(inFrame.length >= 2, `predict found ${inFrame.length} faces in the webcam frame`);
    for (const face of frame.faces) {
      assert.ok(Math.abs(face.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-5);
      const { x, y, height } = face.box;
      const edge: [number, number] = [Math.round(x), Math.round(y + height / 2)];
      const [[r, g, b]] = await colours(page, [edge]);
      assert.ok(g > 200 && r < 60 && b < 60, `webcam: no box drawn at ${edge}`);
    }

    // "find faces" off: the uploaded photo again, whole, as predict --detector none takes it
    const whole = await nextResult(
      page,
      () => page.click('#detect'),
      "window.affectlab.last.detector === 'none'",
    );
    assert.equal(whole.source, 'sample5.jpg');
    assert.equal(whole.faces.length, 0);
    assert.ok(whole.probabilities);
    // sharp decodes a JPEG it shrinks 40x at 1/8 scale (libjpeg's DCT scaling), which a
    // browser cannot: close, not equal (the difference is printed)
    const diff = maxDiff(whole.probabilities, predicted([photo])[0]);
    process.stdout.write(
      `# 1920 px photo taken whole, page vs predict: max probability difference ${diff}\n`,
    );
    assert.ok(diff < 0.01, String(diff));
    await page.close();
  });

  it('an aligned run: the page aligns each face by its landmarks as predict does', async () => {
    const aligned = await tinyTrainedRun(work, 'web-aligned', {
      steps: 30,
      learningRate: 0.01,
      crop: 'aligned',
    });
    const out = join(work, 'web-aligned');
    const exported = affectlab([
      'export',
      '--run',
      aligned.runDir,
      '--format',
      'web',
      '--out',
      out,
    ]);
    assert.equal(exported.code, 0, exported.stderr);
    const settings = JSON.parse(readFileSync(join(out, 'detector.json'), 'utf8')) as {
      landmarks: boolean;
    };
    assert.equal(settings.landmarks, true);
    const file = demo('sample1.jpg');
    const expected = predictedFaces(aligned.runDir, file);
    const alignedServer = await serveFolder(out);
    try {
      const page = await openPage('?backend=cpu', alignedServer.url);
      const got = await upload(page, file);
      await assertFacesAsPredict(
        page,
        got,
        expected,
        FACE_TOLERANCE,
        `aligned, sample1.jpg, ${got.backend}`,
      );
      await page.close();
    } finally {
      await alignedServer.close();
    }
  });
});
