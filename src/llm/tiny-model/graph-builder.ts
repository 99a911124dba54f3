// A small helper that names values and collects nodes and initializers while a graph is described in
// code, so the decoder in tiny-model.ts reads like the model it is (norm, attention, MLP).
import {
  type AttributeMessage,
  DataType,
  type DataTypeCode,
  type NodeMessage,
  type TensorMessage,
} from './onnx-proto.js';

export type AttrValue = number | number[] | { float: number };

function attribute(name: string, value: AttrValue): AttributeMessage {
  if (Array.isArray(value)) return { name, type: 7, ints: value };
  if (typeof value === 'number') return { name, type: 2, i: value };
  return { name, type: 1, f: value.float };
}

function bytesOf(data: Float32Array | Float16Array | BigInt64Array): Uint8Array {
  // ONNX raw_data is little-endian; so are the typed arrays on every platform Node runs on.
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export class GraphBuilder {
  readonly nodes: NodeMessage[] = [];
  readonly initializers: TensorMessage[] = [];
  private counter = 0;
  private readonly constants = new Map<string, string>();

  /** Adds a node; returns the names of its outputs (`count` of them). */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, count = 1): string[] {
    const id = this.counter++;
    const outputs = Array.from({ length: count }, (_, i) => `/${opType.toLowerCase()}_${id}/out${i}`);
    this.nodes.push({
      name: `/${opType}_${id}`,
      opType,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** A one-output node. */
  op1(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    const [out] = this.op(opType, inputs, attrs);
    if (out === undefined) throw new Error(`${opType}: no output`);
    return out;
  }

  /** A node whose single output gets a chosen (graph output) name. */
  named(opType: string, inputs: string[], output: string, attrs: Record<string, AttrValue> = {}): string {
    this.nodes.push({
      name: `/${opType}_${this.counter++}`,
      opType,
      input: inputs,
      output: [output],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return output;
  }

  weight(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: bytesOf(data) });
    return name;
  }

  /**
   * A weight stored as float16 and cast to float32 where it is used (onnxruntime folds the cast at
   * load): the file holds what a float16 export holds, the arithmetic stays float32 on every provider.
   */
  weight16(name: string, dims: number[], data: Float32Array): string {
    const half = Float16Array.from(data);
    this.initializers.push({ name, dims, dataType: DataType.FLOAT16, rawData: bytesOf(half) });
    return this.op1('Cast', [name], { to: DataType.FLOAT });
  }

  /** A shared int64 constant initializer (shapes, axes, indices). */
  ints(values: number[], scalar = false): string {
    return this.constant(DataType.INT64, values, scalar);
  }

  /** A shared float constant initializer. */
  float(value: number): string {
    return this.constant(DataType.FLOAT, [value], true);
  }

  private constant(dataType: DataTypeCode, values: number[], scalar: boolean): string {
    const key = `${dataType}:${scalar}:${values.join(',')}`;
    const existing = this.constants.get(key);
    if (existing !== undefined) return existing;
    const name = `/const_${this.constants.size}`;
    const data =
      dataType === DataType.INT64 ? BigInt64Array.from(values, (v) => BigInt(v)) : Float32Array.from(values);
    this.initializers.push({ name, dims: scalar ? [] : [values.length], dataType, rawData: bytesOf(data) });
    this.constants.set(key, name);
    return name;
  }
}
