/** Video for `affectlab predict`: frames sampled at a rate by ffmpeg (Debian's `ffmpeg`, on PATH). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { UserError } from '../../sdk/errors.js';
import type { Example } from '../../sdk/contracts/data.js';

/** File endings taken as video (decoded with ffmpeg, sampled at --fps). */
export const VIDEO_EXTENSIONS = ['.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi', '.mpg', '.mpeg'];

export function isVideo(path: string): boolean {
  return VIDEO_EXTENSIONS.includes(extname(path).toLowerCase());
}

/** The ffmpeg on PATH, or a UserError naming the package to install. */
export function findFfmpeg(): string {
  const probe = spawnSync('ffmpeg', ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0)
    throw new UserError(
      'predicting on video needs ffmpeg on PATH, which was not found: install the Debian package ' +
        "'ffmpeg' (sudo apt-get install ffmpeg), or extract frames yourself and predict the images",
    );
  return 'ffmpeg';
}

export interface VideoFrames {
  /** One example per sampled frame (image column: the video), in time order. */
  examples: Example[];
  /** Seconds from the video's start, by example. */
  times: Map<Example, number>;
  /** Remove the extracted frames. */
  dispose(): void;
}

/**
 * Frames of `video` at `fps` frames per second (ffmpeg's fps filter: frame k, from 0, shows the
 * video at k / fps seconds), written as PNG to a temporary folder.
 */
export function extractFrames(video: string, fps: number): VideoFrames {
  if (!(fps > 0 && fps <= 240)) throw new UserError(`--fps must be in (0, 240], got ${fps}`);
  const ffmpeg = findFfmpeg();
  const dir = mkdtempSync(join(tmpdir(), 'affectlab-frames-'));
  const dispose = (): void => rmSync(dir, { recursive: true, force: true });
  const r = spawnSync(
    ffmpeg,
    ['-v', 'error', '-nostdin', '-i', video, '-vf', `fps=${fps}`, join(dir, 'frame-%06d.png')],
    { encoding: 'utf8', maxBuffer: 16 << 20 },
  );
  if (r.status !== 0) {
    dispose();
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop();
    throw new UserError(`${video}: ffmpeg could not decode it: ${why}`);
  }
  const files = readdirSync(dir)
    .filter((f) => f.startsWith('frame-'))
    .sort();
  const examples: Example[] = [];
  const times = new Map<Example, number>();
  files.forEach((file, k) => {
    const time = k / fps;
    const example: Example = {
      id: video,
      imagePath: join(dir, file),
      label: -1,
      source: `${video} at ${time.toFixed(3)} s`,
    };
    examples.push(example);
    times.set(example, time);
  });
  if (examples.length === 0) {
    dispose();
    throw new UserError(`${video}: ffmpeg found no frame to sample`);
  }
  return { examples, times, dispose };
}
