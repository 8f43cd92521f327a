/**
 * The native graph addon (native/graph/tf_graph.cc), typed. It is built at install time by
 * scripts/graph-addon.mjs next to the tfjs-node binding it shares libtensorflow with
 * (`<package>/lib/affectlab-graph/tf_graph.node`), and loaded only when a run uses the graph
 * engine.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** TF_DataType codes (tensorflow/c/tf_datatype.h). */
export const DType = {
  float32: 1,
  int32: 3,
  uint8: 4,
  int64: 9,
  bool: 10,
  resource: 20,
} as const;
export type DTypeCode = (typeof DType)[keyof typeof DType];

/** A tensor going into a session run: the data is copied into TensorFlow once. */
export interface FeedTensor {
  dtype: DTypeCode;
  shape: readonly number[];
  data: Float32Array | Int32Array | Uint8Array;
}

/** A tensor coming out of a session run: `data` is the TensorFlow tensor's own memory. */
export interface FetchedTensor {
  dtype: number;
  shape: number[];
  data: ArrayBuffer;
}

/** An operation attribute: [name, kind, value]. */
export type Attr =
  | [string, 'int' | 'float' | 'type', number]
  | [string, 'bool', boolean]
  | [string, 'string', string]
  | [string, 'shape', readonly number[] | null]
  | [string, 'ints' | 'floats' | 'types', readonly number[]]
  | [string, 'tensor', FeedTensor];

declare const graphBrand: unique symbol;
declare const sessionBrand: unique symbol;
export type GraphHandle = { readonly [graphBrand]: true };
export type SessionHandle = { readonly [sessionBrand]: true };

export interface GraphAddon {
  tfVersion(): string;
  newGraph(): GraphHandle;
  /** Adds one operation; inputs are "op:index" names (an array for a list input). */
  addOperation(
    graph: GraphHandle,
    type: string,
    name: string,
    inputs: readonly (string | readonly string[])[],
    attrs: readonly Attr[],
    controlInputs?: readonly string[],
    device?: string,
  ): number;
  /** d(sum ys)/d(xs): "op:index" per x, "" where TensorFlow found no path. */
  addGradients(
    graph: GraphHandle,
    ys: readonly string[],
    xs: readonly string[],
    prefix: string,
  ): string[];
  outputInfo(graph: GraphHandle, output: string): { dtype: number; shape: number[] | null };
  graphDef(graph: GraphHandle): Buffer;
  newSession(graph: GraphHandle, configProto: Uint8Array | null): SessionHandle;
  closeSession(session: SessionHandle): void;
  runSession(
    session: SessionHandle,
    feedNames: readonly string[],
    feeds: readonly FeedTensor[],
    fetchNames: readonly string[],
    targetNames: readonly string[],
    /** Serialised RunOptions; with it, the result carries the run's RunMetadata bytes. */
    runOptions?: Uint8Array,
  ): Promise<FetchedTensor[] & { runMetadata?: Buffer }>;
}

/** The npm package whose libtensorflow each native backend uses. */
const PACKAGES: Record<string, string> = {
  tensorflow: '@tensorflow/tfjs-node',
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
};

export interface AddonStatus {
  available: boolean;
  path?: string;
  error?: string;
}

const require = createRequire(import.meta.url);
const loaded = new Map<string, GraphAddon | Error>();

/** Where the addon for a backend's package is (or would be) built. */
export function addonPath(backend = 'tensorflow'): string | undefined {
  const pkg = PACKAGES[backend];
  if (!pkg) return undefined;
  try {
    return join(
      dirname(require.resolve(`${pkg}/package.json`)),
      'lib',
      'affectlab-graph',
      'tf_graph.node',
    );
  } catch {
    return undefined;
  }
}

function load(backend: string): GraphAddon | Error {
  const cached = loaded.get(backend);
  if (cached) return cached;
  const path = addonPath(backend);
  let result: GraphAddon | Error;
  if (!path) result = new Error(`no native package for the ${backend} backend`);
  else if (!existsSync(path))
    result = new Error(
      `${path} is not built; run \`node scripts/graph-addon.mjs\` (npm install does it)`,
    );
  else {
    try {
      result = require(path) as GraphAddon;
    } catch (error) {
      result = new Error(`${path} did not load: ${(error as Error).message}`);
    }
  }
  loaded.set(backend, result);
  return result;
}

export function graphAddonStatus(backend = 'tensorflow'): AddonStatus {
  const addon = load(backend);
  const path = addonPath(backend);
  return addon instanceof Error
    ? { available: false, path, error: addon.message }
    : { available: true, path };
}

export function loadAddon(backend = 'tensorflow'): GraphAddon {
  const addon = load(backend);
  if (addon instanceof Error) throw addon;
  return tracer ? traced(addon, tracer) : addon;
}

/** Receives each traced session run: what it fetched and its serialised RunMetadata. */
export type RunTracer = (fetchNames: readonly string[], runMetadata: Buffer) => void;

/** RunOptions { trace_level: FULL_TRACE (3) }. */
const FULL_TRACE = Uint8Array.of(0x08, 0x03);
let tracer: RunTracer | undefined;

/**
 * Trace every session run of addons loaded from now on (bench/profile-step.ts: TensorFlow's
 * step stats); undefined stops. Tracing costs time: never on in a run.
 */
export function setRunTracer(next: RunTracer | undefined): void {
  tracer = next;
}

function traced(addon: GraphAddon, sink: RunTracer): GraphAddon {
  const runSession: GraphAddon['runSession'] = async (
    session,
    feeds,
    tensors,
    fetches,
    targets,
  ) => {
    const out = await addon.runSession(session, feeds, tensors, fetches, targets, FULL_TRACE);
    if (out.runMetadata) sink(fetches, out.runMetadata);
    return out;
  };
  // the native module's exports are frozen: a new object over it, with its own runSession
  return Object.create(addon, { runSession: { value: runSession } }) as GraphAddon;
}
