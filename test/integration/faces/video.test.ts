import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { parseCsvText as parseCsv } from '../../../src/core/pipeline/csv.js';
import { affectlab } from '../../support/cli.js';
import { tempDir } from '../../support/helpers.js';
import { tinyTrainedRun } from '../../support/trained-run.js';

const demo = join(
  dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')),
  'demo',
);
const hasFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
const work = tempDir('affectlab-video-');

describe(
  'affectlab predict on video',
  { skip: hasFfmpeg ? false : 'ffmpeg is not on PATH (Debian package ffmpeg)' },
  () => {
    let runDir = '';
    const video = join(work, 'clip.mp4');
    before(async () => {
      ({ runDir } = await tinyTrainedRun(work, 'video', { imageSize: 48 }));
      // one second each: a photo of three people, a landscape with no face, the photo again
      const size = { width: 960, height: 640 };
      await sharp(join(demo, 'sample1.jpg'))
        .resize({ ...size, fit: 'fill' })
        .png()
        .toFile(join(work, 'f1.png'));
      await sharp({ create: { ...size, channels: 3, background: '#6a8fb0' } })
        .png()
        .toFile(join(work, 'f2.png'));
      await sharp(join(demo, 'sample1.jpg'))
        .resize({ ...size, fit: 'fill' })
        .png()
        .toFile(join(work, 'f3.png'));
      const r = spawnSync(
        'ffmpeg',
        [
          '-v',
          'error',
          '-y',
          '-framerate',
          '1',
          '-i',
          join(work, 'f%d.png'),
          '-c:v',
          'libx264',
          '-crf',
          '12',
          '-pix_fmt',
          'yuv420p',
          '-r',
          '10',
          video,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
    });

    it('writes one row per face per sampled frame, at the requested times', () => {
      const r = affectlab(['predict', '--run', runDir, video, '--fps', '2']);
      assert.equal(r.code, 0, r.stderr);
      const { header, records } = parseCsv(r.stdout, 'stdout');
      assert.deepEqual(header.slice(0, 3), ['image', 'time', 'face']);
      const byTime = new Map<number, number>();
      for (const row of records) {
        assert.equal(row.cells[0], video);
        const t = Number(row.cells[1]);
        byTime.set(t, (byTime.get(t) ?? 0) + 1);
      }
      // frames at 0, 0.5, ..., 2.5 s: the photo's three faces at 0, 0.5, 2, 2.5; none at 1, 1.5
      assert.deepEqual(
        [...byTime.keys()].sort((a, b) => a - b),
        [0, 0.5, 2, 2.5],
      );
      for (const [t, n] of byTime) assert.equal(n, 3, `faces at ${t} s`);
      assert.match(r.stderr, /2 photo\(s\) with no face/);
      assert.match(r.stderr, /no face found: .*clip\.mp4 at 1\.000 s/);
    });

    it('names the Debian package when ffmpeg is not on PATH', () => {
      const r = affectlab(['predict', '--run', runDir, video], { env: { PATH: '/nonexistent' } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /needs ffmpeg on PATH.*Debian package 'ffmpeg'/);
    });
  },
);
