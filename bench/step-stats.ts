/**
 * TensorFlow's step stats from a session run's serialised RunMetadata (RunOptions trace_level
 * FULL_TRACE), read with a small protobuf wire-format reader: which node ran, its op type, when
 * and for how long, on which thread. Fields from tensorflow/core/framework/step_stats.proto.
 */

export interface NodeTiming {
  node: string;
  /** The op type, from the timeline label "node = Op(inputs)". */
  op: string;
  device: string;
  threadId: number;
  /** Start, microseconds since the epoch (all_start). */
  startMicros: number;
  /** The op's own compute time (op_end_rel - op_start_rel), microseconds. */
  opMicros: number;
}

class Reader {
  private offset = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const byte = this.bytes[this.offset++];
      if (byte === undefined) throw new Error('RunMetadata: truncated varint');
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
  }

  /** The next field: its number and a reader of its value (varint as number, bytes as Reader). */
  field(): { number: number; value: number | Uint8Array } {
    const key = this.varint();
    const wire = key % 8;
    const number = Math.floor(key / 8);
    if (wire === 0) return { number, value: this.varint() };
    if (wire === 2) {
      const length = this.varint();
      const value = this.bytes.subarray(this.offset, this.offset + length);
      this.offset += length;
      return { number, value };
    }
    if (wire === 1 || wire === 5) {
      this.offset += wire === 1 ? 8 : 4;
      return { number, value: 0 };
    }
    throw new Error(`RunMetadata: unsupported wire type ${wire}`);
  }

  *fields(): Generator<{ number: number; value: number | Uint8Array }> {
    while (!this.done) yield this.field();
  }
}

const text = (v: number | Uint8Array): string =>
  typeof v === 'number' ? '' : new TextDecoder().decode(v);
const bytesOf = (v: number | Uint8Array): Uint8Array =>
  typeof v === 'number' ? new Uint8Array() : v;

function nodeTiming(bytes: Uint8Array, device: string): NodeTiming {
  const t: Record<number, number> = {};
  let node = '';
  let label = '';
  for (const { number, value } of new Reader(bytes).fields()) {
    if (number === 1) node = text(value);
    else if (number === 8) label = text(value);
    else if (typeof value === 'number') t[number] = value;
  }
  // nanosecond fields (14, 15) when TensorFlow filled them, else the microsecond ones (3, 4)
  const opMicros =
    t[15] !== undefined && t[14] !== undefined ? (t[15] - t[14]) / 1000 : (t[4] ?? 0) - (t[3] ?? 0);
  const op = /= (\w+)\(/.exec(label)?.[1] ?? (node === '_SOURCE' ? 'SOURCE' : 'unknown');
  return { node, op, device, threadId: t[10] ?? 0, startMicros: t[2] ?? 0, opMicros };
}

/** Every node execution recorded in one RunMetadata. */
export function stepTimings(runMetadata: Uint8Array): NodeTiming[] {
  const out: NodeTiming[] = [];
  for (const meta of new Reader(runMetadata).fields()) {
    if (meta.number !== 1) continue; // step_stats
    for (const dev of new Reader(bytesOf(meta.value)).fields()) {
      if (dev.number !== 1) continue; // dev_stats
      const fields = [...new Reader(bytesOf(dev.value)).fields()];
      const device = text(fields.find((f) => f.number === 1)?.value ?? 0);
      for (const f of fields) if (f.number === 2) out.push(nodeTiming(bytesOf(f.value), device));
    }
  }
  return out;
}
