/**
 * Building a TensorFlow graph from TypeScript: one method per operation the compiler uses,
 * names made unique under a scope, so the compiled graph reads like the model it came from
 * (`dense_1/MatMul`, `optimizer/conv2d/kernel/m`). An output is referred to as "op:index".
 */
import {
  DType,
  type Attr,
  type DTypeCode,
  type GraphAddon,
  type GraphHandle,
} from '../core/engine/graph/addon.js';

export type Output = string;

const F32 = DType.float32;
const I32 = DType.int32;

/** TensorFlow operation names: [A-Za-z0-9.][A-Za-z0-9_.\-/]*. */
export function opName(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9_.\-/]/g, '_').replace(/\/+/g, '/');
  return /^[A-Za-z0-9.]/.test(cleaned) ? cleaned : `v${cleaned}`;
}

export interface OpOptions {
  name?: string;
  /** Operations that must run before this one. */
  control?: readonly string[];
}

/** A resource variable in the graph, with the ops that set and read it from outside. */
export interface GraphVariable {
  name: string;
  shape: number[];
  handle: Output;
  /** Reads the value (for the compute of a pass and for fetching). */
  read: Output;
  /** Feed this placeholder and run `assign` to set the value. */
  assignValue: Output;
  assign: string;
}

export class GraphBuilder {
  readonly graph: GraphHandle;
  private readonly used = new Set<string>();
  private readonly scopes: string[] = [];

  constructor(readonly addon: GraphAddon) {
    this.graph = addon.newGraph();
  }

  /** Run `body` with names prefixed by `scope/`. */
  scoped<T>(scope: string, body: () => T): T {
    this.scopes.push(opName(scope));
    try {
      return body();
    } finally {
      this.scopes.pop();
    }
  }

  uniqueName(base: string): string {
    const full = opName([...this.scopes, base].join('/'));
    let name = full;
    for (let i = 1; this.used.has(name); i++) name = `${full}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Adds an operation; returns its name (outputs are `${name}:${i}`). */
  operation(
    type: string,
    inputs: readonly (Output | readonly Output[])[],
    attrs: readonly Attr[] = [],
    options: OpOptions = {},
  ): string {
    const name = this.uniqueName(options.name ?? type);
    this.addon.addOperation(this.graph, type, name, inputs, attrs, options.control ?? []);
    return name;
  }

  /** An operation with one output of interest (output 0). */
  op(
    type: string,
    inputs: readonly (Output | readonly Output[])[],
    attrs: readonly Attr[] = [],
    options: OpOptions = {},
  ): Output {
    return `${this.operation(type, inputs, attrs, options)}:0`;
  }

  shapeOf(output: Output): number[] | null {
    return this.addon.outputInfo(this.graph, output).shape;
  }

  // --- constants and inputs ---

  constF32(values: number | ArrayLike<number>, shape?: readonly number[], name = 'Const'): Output {
    const data = Float32Array.from(typeof values === 'number' ? [values] : values);
    const dims = shape ?? (typeof values === 'number' ? [] : [data.length]);
    return this.op(
      'Const',
      [],
      [
        ['dtype', 'type', F32],
        ['value', 'tensor', { dtype: F32, shape: dims, data }],
      ],
      { name },
    );
  }

  constI32(values: number | readonly number[], shape?: readonly number[], name = 'Const'): Output {
    const data = Int32Array.from(typeof values === 'number' ? [values] : values);
    const dims = shape ?? (typeof values === 'number' ? [] : [data.length]);
    return this.op(
      'Const',
      [],
      [
        ['dtype', 'type', I32],
        ['value', 'tensor', { dtype: I32, shape: dims, data }],
      ],
      { name },
    );
  }

  placeholder(name: string, dtype: DTypeCode, shape: readonly number[] | null): Output {
    return this.op(
      'Placeholder',
      [],
      [
        ['dtype', 'type', dtype],
        ['shape', 'shape', shape],
      ],
      { name },
    );
  }

  variable(name: string, shape: readonly number[]): GraphVariable {
    const base = this.uniqueName(name);
    const dims = [...shape];
    const handle = this.op(
      'VarHandleOp',
      [],
      [
        ['dtype', 'type', F32],
        ['shape', 'shape', dims],
        ['shared_name', 'string', base],
      ],
      { name: `${base}/handle` },
    );
    const assignValue = this.placeholder(`${base}/value`, F32, dims);
    const assign = this.operation(
      'AssignVariableOp',
      [handle, assignValue],
      [['dtype', 'type', F32]],
      {
        name: `${base}/assign`,
      },
    );
    const read = this.readVariable(handle, `${base}/read`);
    return { name: base, shape: dims, handle, read, assignValue, assign };
  }

  readVariable(handle: Output, name = 'ReadVariableOp', control?: readonly string[]): Output {
    return this.op('ReadVariableOp', [handle], [['dtype', 'type', F32]], { name, control });
  }

  assignVariable(handle: Output, value: Output, control?: readonly string[]): string {
    return this.operation('AssignVariableOp', [handle, value], [['dtype', 'type', F32]], {
      control,
    });
  }

  assignAddVariable(handle: Output, delta: Output, control?: readonly string[]): string {
    return this.operation('AssignAddVariableOp', [handle, delta], [['dtype', 'type', F32]], {
      control,
    });
  }

  assignSubVariable(handle: Output, delta: Output, control?: readonly string[]): string {
    return this.operation('AssignSubVariableOp', [handle, delta], [['dtype', 'type', F32]], {
      control,
    });
  }

  group(name: string, control: readonly string[]): string {
    return this.operation('NoOp', [], [], { name, control });
  }

  // --- arithmetic (float32 unless said) ---

  private binary(type: string, a: Output, b: Output, name?: string): Output {
    return this.op(type, [a, b], [['T', 'type', F32]], { name });
  }
  private unary(type: string, a: Output, name?: string): Output {
    return this.op(type, [a], [['T', 'type', F32]], { name });
  }

  add(a: Output, b: Output, name?: string): Output {
    return this.binary('AddV2', a, b, name);
  }
  sub(a: Output, b: Output, name?: string): Output {
    return this.binary('Sub', a, b, name);
  }
  mul(a: Output, b: Output, name?: string): Output {
    return this.binary('Mul', a, b, name);
  }
  div(a: Output, b: Output, name?: string): Output {
    return this.binary('RealDiv', a, b, name);
  }
  maximum(a: Output, b: Output): Output {
    return this.binary('Maximum', a, b);
  }
  minimum(a: Output, b: Output): Output {
    return this.binary('Minimum', a, b);
  }
  squaredDifference(a: Output, b: Output): Output {
    return this.binary('SquaredDifference', a, b);
  }
  neg(a: Output): Output {
    return this.unary('Neg', a);
  }
  sqrt(a: Output): Output {
    return this.unary('Sqrt', a);
  }
  square(a: Output): Output {
    return this.unary('Square', a);
  }
  log(a: Output): Output {
    return this.unary('Log', a);
  }
  floor(a: Output): Output {
    return this.unary('Floor', a);
  }
  stopGradient(a: Output): Output {
    return this.unary('StopGradient', a);
  }
  identity(a: Output, name?: string): Output {
    return this.unary('Identity', a, name);
  }

  /** Reductions over `axes` (int32 constant), keepDims false. */
  reduce(type: 'Sum' | 'Mean' | 'Max', a: Output, axes: readonly number[], name?: string): Output {
    return this.op(
      type,
      [a, this.constI32(axes)],
      [
        ['T', 'type', F32],
        ['Tidx', 'type', I32],
        ['keep_dims', 'bool', false],
      ],
      { name },
    );
  }

  reshape(a: Output, shape: readonly number[], name?: string): Output {
    return this.op(
      'Reshape',
      [a, this.constI32(shape)],
      [
        ['T', 'type', F32],
        ['Tshape', 'type', I32],
      ],
      { name },
    );
  }

  /** The shape of `a` as an int32 vector. */
  shape(a: Output): Output {
    return this.op(
      'Shape',
      [a],
      [
        ['T', 'type', F32],
        ['out_type', 'type', I32],
      ],
    );
  }

  cast(a: Output, from: DTypeCode, to: DTypeCode): Output {
    return this.op(
      'Cast',
      [a],
      [
        ['SrcT', 'type', from],
        ['DstT', 'type', to],
      ],
    );
  }
}
