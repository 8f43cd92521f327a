import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAjv } from '../../../src/core/config/validate.js';
import { Enum, Options, Type, definePlugin, type Static } from '../../../src/sdk/define.js';
import { downSampleSampler } from '../../../src/plugins/samplers/down-sample.js';
import { weightedSampler } from '../../../src/plugins/samplers/weighted.js';

const options = Options({
  width: Type.Integer({ minimum: 1 }),
  depth: Type.Integer({ minimum: 1, default: 3 }),
  mode: Enum(['a', 'b'], { default: 'a' }),
  note: Type.Optional(Type.String()),
});
type O = Static<typeof options>;

class Probe {
  constructor(readonly options: O) {}
}

describe('definePlugin', () => {
  it('a property with a default is filled in, not required; one without is required', () => {
    assert.deepEqual((options as { required?: string[] }).required, ['width']);
    const validate = createAjv().compile(options);
    const value: Record<string, unknown> = { width: 2 };
    assert.equal(validate(value), true);
    // the static type says depth and mode are there after validation: so they are
    const filled = value as O;
    assert.equal(filled.depth, 3);
    assert.equal(filled.mode, 'a');
    assert.equal(validate({ depth: 2 }), false);
    assert.equal(validate({ width: 1, extra: 1 }), false, 'unknown keys are errors');
    assert.equal(validate({ width: 1, mode: 'c' }), false);
    assert.equal(validate.errors?.[0].keyword, 'enum');
  });

  it('gives the definition the schema the options were declared with', () => {
    const d = definePlugin({
      kind: 'architecture',
      type: 'probe',
      description: 'probe',
      options,
      implementation: Probe,
    });
    assert.equal(d.optionsSchema, options);
    assert.equal(d.implementation, Probe);
  });

  it('converted plugins emit the JSON Schema they had by hand', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(downSampleSampler.optionsSchema)), {
      type: 'object',
      additionalProperties: false,
      properties: {
        perClass: {
          type: 'integer',
          minimum: 1,
          maximum: 10_000_000,
          description:
            "Examples of each class per epoch; default: the smallest class's count in the training split.",
        },
      },
    });
    const weighted = weightedSampler.optionsSchema as { properties: Record<string, object> };
    assert.deepEqual(JSON.parse(JSON.stringify(weighted.properties.scheme)), {
      enum: ['inverse-frequency', 'class-balanced'],
      default: 'class-balanced',
      description:
        'inverse-frequency: w_c ~ 1/n_c; class-balanced (Cui et al. 2019): w_c ~ (1-beta)/(1-beta^n_c). Normalised to mean 1 over the classes.',
    });
  });
});
