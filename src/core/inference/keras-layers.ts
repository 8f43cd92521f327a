/**
 * Python Keras classes for layers Keras has none of. A plugin that defines a tfjs layer Keras
 * lacks declares here the Keras class it travels as: the class name and the Python source of a
 * `keras.layers.Layer` subclass of that name. Exports that write Keras files (`.keras`,
 * SavedModel, MLflow) put every declared class a model uses into one Python module,
 * `affectlab_keras_layers.py`, which registers them for deserialisation
 * (`keras.saving.register_keras_serializable(package="affectlab")`); importing it before
 * `keras.saving.load_model` is all a Python reader needs. Core names no layer here: the
 * plugins register theirs (as they register their graph forms).
 */
import { NamedRegistry } from '../host/named-registry.js';

/** The Python module the declared classes are shipped in (`import affectlab_keras_layers`). */
export const KERAS_LAYERS_MODULE = 'affectlab_keras_layers';
/** The package the classes are registered under: Keras saves them as `affectlab>Class`. */
export const KERAS_LAYERS_PACKAGE = 'affectlab';

export interface KerasLayerClass {
  /** The Keras class name (a Python identifier): `class <className>(keras.layers.Layer)`. */
  className: string;
  /**
   * Python source defining the class, with its own imports. Its constructor takes the layer's
   * config as tfjs writes it for Keras (snake_case keys, plus Keras' `name`, `trainable`,
   * `dtype`) and `get_config` returns the same keys.
   */
  python: string;
}

const classes = new NamedRegistry<KerasLayerClass>('Keras class of tfjs layer');

/** Declare the Keras class of the tfjs layer class `tfjsClassName` (once per class). */
export function registerKerasLayerClass(tfjsClassName: string, keras: KerasLayerClass): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(keras.className))
    throw new Error(`Keras layer class '${keras.className}' is not a Python identifier`);
  classes.register(tfjsClassName, keras);
}

/** The Keras class declared for a tfjs layer class, if any. */
export function kerasLayerClass(tfjsClassName: string): KerasLayerClass | undefined {
  return classes.find(tfjsClassName);
}

/** The registered name Keras writes for a declared class (`affectlab>Class`). */
export const kerasRegisteredName = (keras: KerasLayerClass): string =>
  `${KERAS_LAYERS_PACKAGE}>${keras.className}`;

/**
 * The Python module holding the declared classes of `tfjsClassNames` (in the order given,
 * each once), each registered for Keras' deserialisation.
 */
export function kerasLayersModuleSource(tfjsClassNames: Iterable<string>): string {
  const parts = [
    `"""Keras classes for the affectlab layers Keras has none of (written by affectlab export).`,
    '',
    `Import this module before keras.saving.load_model; it registers each class as`,
    `${KERAS_LAYERS_PACKAGE}>ClassName, the name the model's config.json uses."""`,
    'import keras',
    '',
  ];
  const seen = new Set<string>();
  for (const name of tfjsClassNames) {
    const keras = classes.find(name);
    if (!keras) throw new Error(`tfjs layer class ${name} declares no Keras class`);
    if (seen.has(keras.className)) continue;
    seen.add(keras.className);
    parts.push(
      keras.python.trim(),
      '',
      `${keras.className} = keras.saving.register_keras_serializable(package="${KERAS_LAYERS_PACKAGE}")(${keras.className})`,
      '',
    );
  }
  return parts.join('\n') + '\n';
}

/** The tfjs class whose declared Keras class is `kerasClassName`, if any (for reading back). */
export function tfjsClassOfKeras(kerasClassName: string): string | undefined {
  return classes.names().find((tfjs) => classes.get(tfjs).className === kerasClassName);
}
