import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import * as tf from '@tensorflow/tfjs';
import { fetchFile, type RemoteFile, WEIGHTS_BASE_URL_ENV } from '../../../src/core/download.js';
import { UserError } from '../../../src/sdk/errors.js';
import { Logger, RunContext } from '../../../src/sdk/services.js';
import { readLegacyH5Weights } from '../../../src/plugins/architectures/keras-model/read.js';
import { ResNet50, type ResNet50Options } from '../../../src/plugins/architectures/resnet50.js';
import {
  MobileNetV2,
  type MobileNetV2Options,
} from '../../../src/plugins/architectures/mobilenet-v2.js';
import { affectlab } from '../../support/cli.js';
import { tempDir } from '../../support/helpers.js';
import { closedPort, serveWeights, writeLegacyWeightsH5 } from '../../support/weights-server.js';

/**
 * `weights: imagenet` as Keras' get_file: download into the Keras cache, verify the hash,
 * resume after a cut connection, reuse the cache with no network, fail fast and clearly
 * offline. Every server here is on 127.0.0.1; nothing reaches outside the machine.
 */

const digest = (algorithm: 'md5' | 'sha256', data: Buffer) =>
  createHash(algorithm).update(data).digest('hex');

let bytes: Buffer;
let work: string;

function tinyModel(): tf.LayersModel {
  const input = tf.input({ shape: [8] });
  const hidden = tf.layers.dense({ units: 16, name: 'fc1' }).apply(input) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, name: 'fc2' }).apply(hidden) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

function file(hash: string): RemoteFile {
  // the URL is Keras' kind of address; the base-URL override sends every test to 127.0.0.1
  return {
    fileName: 'tiny_notop.h5',
    url: 'https://storage.googleapis.com/never-fetched/tiny_notop.h5',
    hash,
    label: 'test weights',
  };
}

function env(baseUrl: string, home = tempDir()): NodeJS.ProcessEnv {
  return { KERAS_HOME: home, [WEIGHTS_BASE_URL_ENV]: baseUrl };
}

function leftovers(home: string): string[] {
  const dir = join(home, 'models');
  return existsSync(dir) ? readdirSync(dir) : [];
}

class QuietLogger extends Logger {
  lines: string[] = [];
  constructor() {
    super();
    this.level = 'error';
    this.sink = (line) => this.lines.push(line);
  }
}

before(async () => {
  work = tempDir();
  const model = tinyModel();
  const path = join(work, 'tiny.h5');
  await writeLegacyWeightsH5(model, path);
  bytes = readFileSync(path);
  model.dispose();
});

describe('weights on demand (fetchFile)', () => {
  it('downloads into $KERAS_HOME/models, verifies the md5, and the file reads as Keras weights', async () => {
    const server = await serveWeights(bytes);
    try {
      const e = env(server.url);
      const path = await fetchFile(file(digest('md5', bytes)), {
        env: e,
        logger: new QuietLogger(),
      });
      assert.equal(path, join(e.KERAS_HOME as string, 'models', 'tiny_notop.h5'));
      assert.ok(readFileSync(path).equals(bytes));
      assert.deepEqual(leftovers(e.KERAS_HOME as string), ['tiny_notop.h5']);
      const layers = await readLegacyH5Weights(path);
      assert.deepEqual([...layers.keys()], ['fc1', 'fc2']);
      assert.deepEqual(
        layers.get('fc1')?.map((w) => w.shape),
        [[8, 16], [16]],
      );
      assert.deepEqual(server.requests, ['']);
    } finally {
      await server.close();
    }
  });

  it('uses the cached file with the server stopped (no request), and re-downloads a corrupt one', async () => {
    const server = await serveWeights(bytes);
    const e = env(server.url);
    const spec = file(digest('sha256', bytes)); // a 64-digit hash: sha256, as Keras' 'auto'
    await fetchFile(spec, { env: e });
    await server.close();
    const started = Date.now();
    const path = await fetchFile(spec, { env: e });
    assert.ok(Date.now() - started < 1000);
    assert.ok(readFileSync(path).equals(bytes));
    assert.deepEqual(server.requests, ['']);

    // a file that does not match its hash is fetched again, as Keras does
    writeFileSync(path, bytes.subarray(0, 100));
    const again = await serveWeights(bytes);
    try {
      const logger = new QuietLogger();
      await fetchFile(spec, { env: { ...e, [WEIGHTS_BASE_URL_ENV]: again.url }, logger });
      assert.ok(readFileSync(path).equals(bytes));
      assert.match(logger.lines.join('\n'), /does not match the sha256 .* downloading it again/);
    } finally {
      await again.close();
    }
  });

  it('resumes with an HTTP Range request after the connection is cut mid-file', async () => {
    const half = Math.floor(bytes.length / 2);
    const server = await serveWeights(bytes, { cutAfter: half });
    try {
      const e = env(server.url);
      const logger = new QuietLogger();
      const path = await fetchFile(file(digest('md5', bytes)), { env: e, logger });
      assert.ok(readFileSync(path).equals(bytes));
      // the second request asks for the rest of what arrived (all of the first half, unless
      // the reset overtook some of it)
      assert.equal(server.requests.length, 2);
      const resumedFrom = Number(/^bytes=(\d+)-$/.exec(server.requests[1])?.[1]);
      assert.ok(resumedFrom > 0 && resumedFrom <= half, server.requests[1]);
      assert.match(logger.lines.join('\n'), /connection cut after \d+ bytes .*resuming/);
      assert.deepEqual(leftovers(e.KERAS_HOME as string), ['tiny_notop.h5']);
    } finally {
      await server.close();
    }
  });

  it('downloads again from the start when the server ignores Range', async () => {
    const server = await serveWeights(bytes, { cutAfter: 1000, ranges: false });
    try {
      const e = env(server.url);
      const path = await fetchFile(file(digest('md5', bytes)), { env: e });
      assert.ok(readFileSync(path).equals(bytes));
      assert.deepEqual(server.requests, ['', 'bytes=1000-']);
    } finally {
      await server.close();
    }
  });

  it('refuses a file whose hash differs, removes it, and names URL, path and hash', async () => {
    const server = await serveWeights(bytes);
    try {
      const e = env(server.url);
      const wanted = digest('md5', Buffer.from('another file'));
      await assert.rejects(fetchFile(file(wanted), { env: e }), (error: Error) => {
        assert.ok(error instanceof UserError);
        assert.match(
          error.message,
          /md5 is [0-9a-f]{32}, not the published one: refused and removed/,
        );
        assert.ok(error.message.includes(`${server.url}tiny_notop.h5`));
        assert.ok(error.message.includes(join(e.KERAS_HOME as string, 'models', 'tiny_notop.h5')));
        assert.ok(error.message.includes(wanted));
        return true;
      });
      assert.deepEqual(leftovers(e.KERAS_HOME as string), []);
    } finally {
      await server.close();
    }
  });

  it('fails in under a second when nothing answers, naming URL, path, hash and the mirror variable', async () => {
    const port = await closedPort();
    const e = env(`http://127.0.0.1:${port}/mirror/`);
    const hash = digest('md5', bytes);
    const started = Date.now();
    await assert.rejects(fetchFile(file(hash), { env: e }), (error: Error) => {
      assert.ok(error instanceof UserError);
      assert.match(error.message, /cannot fetch test weights: .*ECONNREFUSED/);
      assert.ok(error.message.includes(`http://127.0.0.1:${port}/mirror/tiny_notop.h5`));
      assert.ok(error.message.includes(join(e.KERAS_HOME as string, 'models', 'tiny_notop.h5')));
      assert.ok(error.message.includes(`md5:     ${hash}`));
      assert.ok(error.message.includes(WEIGHTS_BASE_URL_ENV));
      return true;
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1000, `${elapsed} ms`);
    assert.deepEqual(leftovers(e.KERAS_HOME as string), []);
  });

  it('an HTTP error status is one clear error, not retried', async () => {
    const server = await serveWeights(bytes, { status: 404 });
    try {
      await assert.rejects(
        fetchFile(file(digest('md5', bytes)), { env: env(server.url) }),
        /cannot fetch test weights: HTTP 404/,
      );
      assert.equal(server.requests.length, 1);
    } finally {
      await server.close();
    }
  });
});

describe('resnet50 weights: imagenet', () => {
  let saved: NodeJS.ProcessEnv;
  after(() => {
    if (saved) process.env = saved;
  });

  it("fails fast offline naming Keras' URL file, the cache path and Keras' md5", async () => {
    saved = { ...process.env };
    const home = tempDir();
    process.env.KERAS_HOME = home;
    process.env[WEIGHTS_BASE_URL_ENV] = `http://127.0.0.1:${await closedPort()}/`;
    const logger = new QuietLogger();
    const options = {
      weights: 'imagenet',
      trainableFraction: 0.2,
      pooling: 'avg',
      top: 'task',
      preprocess: 'caffe',
    } as ResNet50Options;
    const plugin = new ResNet50(
      options,
      logger,
      new RunContext('t', join(work, 'x.yaml'), 1, work, work),
    );
    const started = Date.now();
    await assert.rejects(
      Promise.resolve(
        plugin.build({
          inputShape: [32, 32, 3],
          task: {
            kind: 'classification',
            classes: [
              { index: 0, code: 0, name: 'a' },
              { index: 1, code: 1, name: 'b' },
            ],
          },
        }),
      ),
      (error: Error) => {
        assert.match(error.message, /Keras' ImageNet weights for resnet50/);
        assert.match(error.message, /resnet50_weights_tf_dim_ordering_tf_kernels_notop\.h5/);
        assert.ok(
          error.message.includes(
            join(home, 'models', 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5'),
          ),
        );
        assert.match(error.message, /md5: +4d473c1dd8becc155b73f8504c6f6626/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 1000);
    process.env = saved;
  });

  it('validate and run --dry-run say whether the weights are cached, without network', () => {
    const home = tempDir();
    const cli = { env: { AFFECTNET_ROOT: '/nonexistent', KERAS_HOME: home } };
    const experiment = 'experiments/resnet50-transfer-5class.yaml';
    const cached = join(home, 'models', 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5');
    const before = affectlab(['validate', experiment], cli);
    assert.equal(before.code, 0, before.stderr);
    assert.match(
      before.stdout,
      /architecture\.weights: Keras' ImageNet weights for resnet50 not cached: the run downloads https:\/\/storage\.googleapis\.com\/tensorflow\/keras-applications\/resnet\/resnet50_weights_tf_dim_ordering_tf_kernels_notop\.h5 \(md5 4d473c1dd8becc155b73f8504c6f6626\)/,
    );
    assert.ok(before.stdout.includes(cached));
    mkdirSync(join(home, 'models'));
    writeFileSync(cached, bytes);
    const after = affectlab(['validate', experiment], cli);
    assert.ok(
      after.stdout.includes(
        `architecture.weights: Keras' ImageNet weights for resnet50 cached: ${cached}`,
      ),
      after.stdout,
    );
    const dry = affectlab(['run', experiment, '--dry-run'], cli);
    assert.equal(dry.code, 0, dry.stderr);
    const files = (parse(dry.stdout) as { files: Record<string, Record<string, unknown>> }).files;
    assert.deepEqual(files['architecture.weights'], {
      what: "Keras' ImageNet weights for resnet50",
      cached: true,
      path: cached,
    });
  });
});

describe('the Keras Applications backbones: weights: imagenet', () => {
  it("validate names Keras' file, URL and hash for mobilenet-v2 and efficientnet-b0", () => {
    const home = tempDir();
    const cli = { env: { AFFECTNET_ROOT: '/nonexistent', KERAS_HOME: home } };
    const r = affectlab(
      [
        'validate',
        'experiments/efficientnet-b0-affectnet8.yaml',
        'experiments/mobilenet-v2-affectnet7.yaml',
      ],
      cli,
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(
      r.stdout.includes(
        "architecture.weights: Keras' ImageNet weights for efficientnet-b0 not cached: the run downloads " +
          'https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5 ' +
          `(md5 50bc09e76180e00e4465e1a485ddc09d) to ${join(home, 'models', 'efficientnetb0_notop.h5')}`,
      ),
      r.stdout,
    );
    assert.match(
      r.stdout,
      /architecture\.weights: Keras' ImageNet weights for mobilenet-v2 not cached: the run downloads https:\/\/storage\.googleapis\.com\/tensorflow\/keras-applications\/mobilenet_v2\/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1\.0_224_no_top\.h5/,
    );
  });

  it('mobilenet-v2 refuses weights: imagenet for a width Keras lists no file for', async () => {
    const options = { ...mobileNetV2Defaults, weights: 'imagenet', alpha: 0.5 };
    const plugin = new MobileNetV2(
      options as MobileNetV2Options,
      new QuietLogger(),
      new RunContext('t', join(work, 'x.yaml'), 1, work, work),
    );
    await assert.rejects(
      Promise.resolve(plugin.build({ inputShape: [96, 96, 3], task: twoClasses })),
      /weights: imagenet is listed for alpha 1\.0 only \(got alpha 0\.5\)/,
    );
  });
});

const twoClasses = {
  kind: 'classification' as const,
  classes: [
    { index: 0, code: 0, name: 'a' },
    { index: 1, code: 1, name: 'b' },
  ],
};
const mobileNetV2Defaults = { trainableFraction: 1, pooling: 'avg', top: 'task', preprocess: 'tf' };
