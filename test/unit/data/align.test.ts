import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { alignedBox, eyeLineAngle, parseLandmarks } from '../../../src/core/pipeline/align.js';
import { decodeAndCrop } from '../../../src/core/pipeline/preprocess.js';
import type { FaceBox } from '../../../src/sdk/contracts/data.js';
import type { Point } from '../../../src/sdk/contracts/inference.js';

const SIZE = 240;
const CENTRE: Point = [120, 128];

/** A point of the upright face (offsets from its centre) turned by `degrees` about CENTRE. */
function turned([dx, dy]: Point, degrees: number): Point {
  const a = (degrees * Math.PI) / 180;
  return [
    CENTRE[0] + dx * Math.cos(a) - dy * Math.sin(a),
    CENTRE[1] + dx * Math.sin(a) + dy * Math.cos(a),
  ];
}

/**
 * A synthetic face turned by `degrees`: a light oval with two dark eyes and a mouth, and its 68
 * landmarks turned with it (the eye contours 36-41 and 42-47 ring the eyes; the rest sit on the
 * face's midline, which alignment does not use).
 */
async function turnedFace(degrees: number): Promise<{ png: Buffer; landmarks: Point[] }> {
  const eyes: Point[] = [
    [-30, -18],
    [30, -18],
  ];
  const ring = (c: Point): Point[] =>
    [0, 60, 120, 180, 240, 300].map((d) => [
      c[0] + 9 * Math.cos((d * Math.PI) / 180),
      c[1] + 5 * Math.sin((d * Math.PI) / 180),
    ]);
  const upright: Point[] = Array.from({ length: 68 }, (_, i): Point => [0, -50 + (100 * i) / 67]);
  ring(eyes[0]).forEach((p, i) => (upright[36 + i] = p));
  ring(eyes[1]).forEach((p, i) => (upright[42 + i] = p));
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}">` +
    `<rect width="${SIZE}" height="${SIZE}" fill="#7a9"/>` +
    `<g transform="translate(${CENTRE[0]} ${CENTRE[1]}) rotate(${degrees})">` +
    `<ellipse rx="55" ry="70" fill="#f0d0b0"/>` +
    `<circle cx="-30" cy="-18" r="8" fill="#000"/><circle cx="30" cy="-18" r="8" fill="#000"/>` +
    `<rect x="-22" y="30" width="44" height="6" fill="#a33"/></g></svg>`;
  return {
    png: await sharp(Buffer.from(svg)).png().toBuffer(),
    landmarks: upright.map((p) => turned(p, degrees)),
  };
}

/** Angle (degrees) of the line between the centroids of the dark pixels in each half. */
function eyeAngleOf(pixels: Uint8Array, width: number, height: number): number {
  const sums = [
    [0, 0, 0],
    [0, 0, 0],
  ];
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = 3 * (y * width + x);
      if (pixels[i] + pixels[i + 1] + pixels[i + 2] < 120) {
        const s = sums[x < width / 2 ? 0 : 1];
        s[0] += x;
        s[1] += y;
        s[2]++;
      }
    }
  const [l, r] = sums.map(([x, y, n]) => [x / n, y / n]);
  return (Math.atan2(r[1] - l[1], r[0] - l[0]) * 180) / Math.PI;
}

describe('alignment by the eyes (crop: aligned)', () => {
  const box: FaceBox = { x: 60, y: 58, width: 120, height: 140 };
  const spec = { height: 96, width: 96, channels: 3 as const };

  for (const degrees of [17, -23]) {
    it(`levels a face turned by ${degrees} degrees to within 1 degree`, async () => {
      const { png, landmarks } = await turnedFace(degrees);
      const aligned = alignedBox(box, landmarks);
      assert.ok(Math.abs(((aligned.angle ?? NaN) * 180) / Math.PI - degrees) < 1e-6);
      const out = await decodeAndCrop(png, aligned, 0.1, spec);
      const level = eyeAngleOf(out, spec.width, spec.height);
      assert.ok(Math.abs(level) < 1, `aligned eye line at ${level} degrees`);
      // the upright box keeps the tilt (squeezed by stretching the box's w:h to a square)
      const upright = await decodeAndCrop(png, box, 0.1, spec);
      const tilted = eyeAngleOf(upright, spec.width, spec.height);
      const expected =
        (Math.atan((Math.tan((degrees * Math.PI) / 180) * box.width) / box.height) * 180) / Math.PI;
      assert.ok(Math.abs(tilted - expected) < 1.5, `upright crop eye line at ${tilted} degrees`);
    });
  }

  it('reads AffectNet landmark fields; without 68 points the box stays upright', () => {
    const text = Array.from({ length: 68 }, (_, i) => `${i}.5;${2 * i}`).join(';');
    const points = parseLandmarks(text);
    assert.equal(points?.length, 68);
    assert.deepEqual(points?.[3], [3.5, 6]);
    assert.equal(parseLandmarks(''), undefined);
    assert.equal(parseLandmarks('1;2;3'), undefined);
    assert.equal(parseLandmarks(text.replace('5.5', 'x')), undefined);
    assert.equal(eyeLineAngle(undefined), undefined);
    assert.deepEqual(alignedBox(box, undefined), box);
  });
});
