import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NamedRegistry } from '../../../src/core/host/named-registry.js';
import { UserError } from '../../../src/sdk/errors.js';

describe('NamedRegistry: the one registration style', () => {
  it('takes a name once: the same entry again is a no-op, another one is refused', () => {
    const formats = new NamedRegistry<{ id: number }>('export format');
    const keras = { id: 1 };
    formats.register('keras', keras);
    formats.register('keras', keras);
    assert.throws(
      () => formats.register('keras', { id: 1 }),
      (e: unknown) =>
        e instanceof UserError &&
        /an export format named 'keras' is already registered/.test(e.message),
    );
    assert.equal(formats.get('keras'), keras);
  });

  it('fails a lookup with the known names and a did-you-mean; find and has do not throw', () => {
    const forms = new NamedRegistry<string>('graph form of layer class');
    forms.register('Dense', 'd');
    forms.register('Conv2D', 'c');
    assert.throws(
      () => forms.get('Dence'),
      /unknown graph form of layer class 'Dence'; did you mean 'Dense'\? \(known: Conv2D, Dense\)/,
    );
    assert.equal(forms.find('Dence'), undefined);
    assert.equal(forms.has('Conv2D'), true);
  });

  it('lists names sorted and entries in registration order; a kind may bring its own lookup error', () => {
    const sections = new NamedRegistry<number>(
      'doctor section',
      (name, known) => new Error(`no ${name} among ${known.join('/')}`),
    );
    sections.register('zeta', 1);
    sections.register('alpha', 2);
    assert.deepEqual(sections.names(), ['alpha', 'zeta']);
    assert.deepEqual(sections.values(), [1, 2]);
    assert.throws(() => sections.get('beta'), /^Error: no beta among alpha\/zeta$/);
  });
});
