import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DType, loadAddon, setRunTracer } from '../../../src/core/engine/graph/addon.js';
import { GraphBuilder } from '../../../src/sdk/graph-builder.js';
import {
  sessionConfigProto,
  sessionSettingsFromEnv,
} from '../../../src/core/engine/graph/session-config.js';
import { stepTimings } from '../../../bench/step-stats.js';
import { activateBackend } from '../../support/helpers.js';

/**
 * The measuring aids of issue 30's profile: session runs traced through RunOptions (the step
 * stats bench/profile-step.ts reads) and the session ConfigProto (threads, XLA).
 */
async function runAffine(traceInto?: Buffer[]): Promise<number[]> {
  if (traceInto) setRunTracer((_fetches, metadata) => traceInto.push(metadata));
  try {
    const addon = loadAddon('tensorflow');
    const b = new GraphBuilder(addon);
    const x = b.placeholder('x', DType.float32, [2, 2]);
    const y = b.add(b.mul(x, b.constF32(3), 'triple'), b.constF32(1), 'plus_one');
    const session = addon.newSession(b.graph, sessionConfigProto({ intraOpThreads: 1 }));
    try {
      const [out] = await addon.runSession(
        session,
        [x],
        [{ dtype: DType.float32, shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }],
        [y],
        [],
      );
      return Array.from(new Float32Array(out.data));
    } finally {
      addon.closeSession(session);
    }
  } finally {
    setRunTracer(undefined);
  }
}

describe('graph session tracing and configuration', () => {
  before(async () => {
    await activateBackend();
  });
  after(() => setRunTracer(undefined));

  it('a traced run returns the same values and RunMetadata naming each node and its op', async () => {
    const traces: Buffer[] = [];
    assert.deepEqual(await runAffine(traces), [4, 7, 10, 13]);
    assert.equal(traces.length, 1);
    const nodes = stepTimings(traces[0]);
    const triple = nodes.find((n) => n.node === 'triple');
    const plus = nodes.find((n) => n.node === 'plus_one');
    assert.ok(triple && plus, `nodes: ${nodes.map((n) => n.node).join(', ')}`);
    assert.equal(triple.op, 'Mul');
    assert.equal(plus.op, 'AddV2');
    for (const n of nodes) assert.ok(Number.isFinite(n.opMicros) && n.opMicros >= 0, n.node);
    assert.match(triple.device, /CPU/);
  });

  it('untraced runs carry no metadata; ConfigProto bytes are the fields asked for', async () => {
    assert.deepEqual(await runAffine(), [4, 7, 10, 13]);
    assert.equal(sessionConfigProto({}), null);
    // intra_op (2) = 2, inter_op (5) = 1, graph_options (10) { optimizer_options (3) { jit (5) = 1 } }
    assert.deepEqual(
      Array.from(sessionConfigProto({ intraOpThreads: 2, interOpThreads: 1, jitLevel: 1 }) ?? []),
      [0x10, 2, 0x28, 1, 0x52, 4, 0x1a, 2, 0x28, 1],
    );
    assert.deepEqual(sessionSettingsFromEnv('intra=2,inter=1,jit=0'), {
      intraOpThreads: 2,
      interOpThreads: 1,
      jitLevel: 0,
    });
    assert.throws(() => sessionSettingsFromEnv('threads=2'), /unknown 'threads=2'/);
    assert.throws(() => sessionSettingsFromEnv('intra=-1'), /bad 'intra=-1'/);
  });
});
