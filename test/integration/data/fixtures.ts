import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AFFECTNET_FILE_LISTS_DIR } from '../../../src/plugins/datasets/affectnet/constants.js';
import { createAjv } from '../../../src/core/config/validate.js';
import { Logger, RunContext } from '../../../src/sdk/services.js';
import { AffectNetDataset } from '../../../src/plugins/datasets/affectnet/dataset.js';
import { affectnetOptionsSchema } from '../../../src/plugins/datasets/affectnet/options.js';

/** Validate options against the plugin's schema (filling defaults, as the runtime does) and build it. */
export function buildAffectNet(options: Record<string, unknown>, seed = 7): AffectNetDataset {
  const validate = createAjv().compile({ ...affectnetOptionsSchema, additionalProperties: false });
  const copy = structuredClone(options);
  if (!validate(copy)) throw new Error(`invalid options: ${JSON.stringify(validate.errors)}`);
  const logger = new Logger();
  logger.level = 'error';
  return new AffectNetDataset(
    copy,
    logger,
    new RunContext('test', 'test.yaml', seed, '/tmp', '/tmp'),
  );
}

export interface CsvRow {
  line: number;
  path: string;
  box: [number, number, number, number];
  landmarks: number[];
  code: number;
  valence: number;
  arousal: number;
}

/** Parse a generated (unquoted) file list independently of the plugin's reader. */
export function readList(
  root: string,
  file: 'training.csv' | 'validation.csv',
): { header: string; rows: CsvRow[] } {
  const lines = readFileSync(join(root, AFFECTNET_FILE_LISTS_DIR, file), 'utf8').split('\n');
  const header = lines[0];
  const rows = lines
    .slice(1)
    .map((text, i) => ({ text, line: i + 2 }))
    .filter(({ text }) => text !== '')
    .map(({ text, line }) => {
      const f = text.split(',');
      if (f.length !== 9) throw new Error(`${file}:${line}: ${f.length} fields`);
      return {
        line,
        path: f[0],
        box: [Number(f[1]), Number(f[2]), Number(f[3]), Number(f[4])] as [
          number,
          number,
          number,
          number,
        ],
        landmarks: f[5].split(';').map(Number),
        code: Number(f[6]),
        valence: Number(f[7]),
        arousal: Number(f[8]),
      };
    });
  return { header, rows };
}
