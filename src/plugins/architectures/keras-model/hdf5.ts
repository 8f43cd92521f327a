/**
 * HDF5 through h5wasm (the HDF5 C library compiled to WebAssembly; no Python, no native
 * build): the weight files of Keras' `.keras` archives and legacy `.h5` models, read and written.
 */
import h5wasm, { type Dataset, type File as H5File, type Group } from 'h5wasm/node';
import { UserError } from '../../../sdk/index.js';

/** The h5wasm module, initialised once. */
export async function hdf5(): Promise<typeof h5wasm> {
  await h5wasm.ready;
  return h5wasm;
}

/** Open `path` for reading; an unreadable or non-HDF5 file is a UserError naming `label`. */
export async function openHdf5(path: string, label = path): Promise<H5File> {
  const h5 = await hdf5();
  try {
    return new h5.File(path, 'r');
  } catch (error) {
    throw new UserError(`${label}: not a readable HDF5 file (${(error as Error).message})`);
  }
}

export function isGroup(entity: unknown): entity is Group {
  return entity instanceof h5wasm.Group;
}

export function isDataset(entity: unknown): entity is Dataset {
  return entity instanceof h5wasm.Dataset;
}

/** An attribute as a string (a JSON config), or undefined. */
export function stringAttribute(node: Group, name: string): string | undefined {
  const attribute = node.attrs[name] as { value: unknown } | undefined;
  if (!attribute) return undefined;
  const value = attribute.value;
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return undefined;
}

/** A string-list attribute (`layer_names`, `weight_names`); an empty HDF5 array is []. */
export function stringListAttribute(node: Group, name: string): string[] | undefined {
  const attribute = node.attrs[name] as { value: unknown } | undefined;
  if (!attribute) return undefined;
  const value = attribute.value;
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.map(String);
  if (ArrayBuffer.isView(value) && (value as unknown as ArrayLike<unknown>).length === 0) return [];
  return undefined;
}

/** A float dataset as float32 values and its shape. */
export function readFloats(
  dataset: Dataset,
  label: string,
): { values: Float32Array; shape: number[] } {
  const raw = dataset.value;
  const shape = dataset.shape ?? [];
  if (raw instanceof Float32Array) return { values: raw, shape };
  if (raw instanceof Float64Array) return { values: Float32Array.from(raw), shape };
  if (typeof raw === 'number') return { values: Float32Array.of(raw), shape };
  // integer weights (Keras' Normalization keeps an int64 `count`) are stored as float32 too
  if (typeof raw === 'bigint') return { values: Float32Array.of(Number(raw)), shape };
  if (raw instanceof BigInt64Array || raw instanceof Int32Array)
    return { values: Float32Array.from(raw, Number), shape };
  throw new UserError(
    `${label}: dataset ${dataset.path} is ${JSON.stringify(dataset.dtype)}, not float32/float64`,
  );
}
