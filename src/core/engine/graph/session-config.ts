/**
 * The libtensorflow session's ConfigProto, serialised by hand (a few varint fields; no protobuf
 * runtime needed): thread pools and XLA auto-clustering. See tensorflow/core/protobuf/config.proto.
 */
export interface SessionSettings {
  /** Threads inside one op (0: TensorFlow's choice, the number of cores). */
  intraOpThreads?: number;
  /** Ops run at once (0: TensorFlow's choice). */
  interOpThreads?: number;
  /** XLA auto-clustering level (OptimizerOptions.global_jit_level: 1 = ON_1, 2 = ON_2). */
  jitLevel?: 0 | 1 | 2;
}

function varint(value: number): number[] {
  const bytes: number[] = [];
  let v = value >>> 0;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return bytes;
}

const field = (number: number, wireType: 0 | 2): number[] => varint((number << 3) | wireType);
const intField = (number: number, value: number): number[] => [
  ...field(number, 0),
  ...varint(value),
];
const messageField = (number: number, body: number[]): number[] => [
  ...field(number, 2),
  ...varint(body.length),
  ...body,
];

/** ConfigProto bytes for `settings`, or null when everything is TensorFlow's default. */
export function sessionConfigProto(settings: SessionSettings): Uint8Array | null {
  const bytes: number[] = [];
  if (settings.intraOpThreads) bytes.push(...intField(2, settings.intraOpThreads));
  if (settings.interOpThreads) bytes.push(...intField(5, settings.interOpThreads));
  if (settings.jitLevel) {
    // ConfigProto.graph_options (10) -> GraphOptions.optimizer_options (3) -> global_jit_level (5)
    bytes.push(...messageField(10, messageField(3, intField(5, settings.jitLevel))));
  }
  return bytes.length ? Uint8Array.from(bytes) : null;
}

/** AFFECTLAB_TF_SESSION="intra=2,inter=1,jit=1" (a measuring aid for bench/profile runs). */
export function sessionSettingsFromEnv(text = process.env.AFFECTLAB_TF_SESSION): SessionSettings {
  const settings: SessionSettings = {};
  for (const part of (text ?? '').split(',').filter(Boolean)) {
    const [key, value] = part.split('=');
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new Error(`AFFECTLAB_TF_SESSION: bad '${part}'`);
    if (key === 'intra') settings.intraOpThreads = n;
    else if (key === 'inter') settings.interOpThreads = n;
    else if (key === 'jit' && (n === 0 || n === 1 || n === 2)) settings.jitLevel = n;
    else throw new Error(`AFFECTLAB_TF_SESSION: unknown '${part}' (intra, inter, jit)`);
  }
  return settings;
}
