import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  kerasLayerClass,
  kerasLayersModuleSource,
  kerasRegisteredName,
  registerKerasLayerClass,
  tfjsClassOfKeras,
} from '../../../src/core/inference/keras-layers.js';

/** The registry through which a plugin layer declares the Python Keras class it exports as. */
describe('Keras classes of layers Keras lacks', () => {
  const python = 'import keras\n\nclass UnitTestLayer(keras.layers.Layer):\n    pass\n';

  it('a declared class is found both ways and registered under affectlab> in the module', () => {
    registerKerasLayerClass('UnitTestTfjsLayer', { className: 'UnitTestLayer', python });
    const declared = kerasLayerClass('UnitTestTfjsLayer');
    assert.equal(declared?.className, 'UnitTestLayer');
    assert.equal(kerasRegisteredName(declared), 'affectlab>UnitTestLayer');
    assert.equal(tfjsClassOfKeras('UnitTestLayer'), 'UnitTestTfjsLayer');
    const source = kerasLayersModuleSource(['UnitTestTfjsLayer', 'UnitTestTfjsLayer']);
    assert.equal(source.match(/class UnitTestLayer/g)?.length, 1);
    assert.match(
      source,
      /UnitTestLayer = keras\.saving\.register_keras_serializable\(package="affectlab"\)\(UnitTestLayer\)/,
    );
  });

  it('refuses a class name that is no Python identifier, a second different source, and an undeclared layer', () => {
    assert.throws(
      () => registerKerasLayerClass('X', { className: 'not valid', python }),
      /not a Python identifier/,
    );
    assert.throws(
      () =>
        registerKerasLayerClass('UnitTestTfjsLayer', {
          className: 'UnitTestLayer',
          python: `${python}# another\n`,
        }),
      /Keras class of tfjs layer named 'UnitTestTfjsLayer' is already registered/,
    );
    assert.throws(() => kerasLayersModuleSource(['NoSuchLayer']), /declares no Keras class/);
  });
});
