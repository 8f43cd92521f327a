import type * as tf from '@tensorflow/tfjs';

/** One layer of a model summary. */
export interface LayerSummary {
  name: string;
  className: string;
  /** Output shape with `null` for the batch dimension; a list of shapes for multi-output layers. */
  outputShape: (number | null)[] | (number | null)[][];
  params: number;
  trainable: boolean;
}

/** What `affectlab summary --json` prints: Keras' `model.summary()` as data. */
export interface ModelSummary {
  name: string;
  layers: LayerSummary[];
  outputs: string[];
  totalParams: number;
  trainableParams: number;
  nonTrainableParams: number;
}

const sizeOf = (variables: readonly tf.LayerVariable[]): number =>
  variables.reduce((sum, v) => sum + (v.shape as number[]).reduce((a, b) => a * b, 1), 0);

/** The per-layer table and parameter counts of a model, counted as Keras counts them. */
export function summarizeModel(model: tf.LayersModel): ModelSummary {
  const layers = model.layers.map((layer) => ({
    name: layer.name,
    className: layer.getClassName(),
    outputShape: layer.outputShape as LayerSummary['outputShape'],
    params: layer.countParams(),
    trainable: layer.trainable,
  }));
  const trainableParams = sizeOf(model.trainableWeights);
  const nonTrainableParams = sizeOf(model.nonTrainableWeights);
  return {
    name: model.name,
    layers,
    outputs: model.outputNames,
    totalParams: trainableParams + nonTrainableParams,
    trainableParams,
    nonTrainableParams,
  };
}

const formatShape = (shape: LayerSummary['outputShape']): string =>
  Array.isArray(shape[0])
    ? (shape as (number | null)[][]).map(formatShape).join(', ')
    : `(${(shape as (number | null)[]).map((d) => (d === null ? 'None' : String(d))).join(', ')})`;

const formatCount = (n: number): string => n.toLocaleString('en-US');

/** Bytes as Keras prints them beside the counts (float32 weights). */
const formatBytes = (params: number): string => {
  const bytes = params * 4;
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(2)} MB`;
  return `${(bytes / 1024).toFixed(2)} KB`;
};

/** Keras' `model.summary()` layout, with a Trainable column when some layers are frozen. */
export function formatSummary(summary: ModelSummary): string {
  const showTrainable = summary.layers.some((l) => !l.trainable && l.params > 0);
  const rows = summary.layers.map((l) => [
    `${l.name} (${l.className})`,
    formatShape(l.outputShape),
    formatCount(l.params),
    ...(showTrainable ? [l.trainable ? 'Y' : 'N'] : []),
  ]);
  const header = [
    'Layer (type)',
    'Output Shape',
    'Param #',
    ...(showTrainable ? ['Trainable'] : []),
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)) + 2);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('')
      .trimEnd();
  const width = widths.reduce((a, b) => a + b, 0);
  return [
    `Model: "${summary.name}"`,
    '_'.repeat(width),
    line(header),
    '='.repeat(width),
    ...rows.map(line),
    '='.repeat(width),
    `Total params: ${formatCount(summary.totalParams)} (${formatBytes(summary.totalParams)})`,
    `Trainable params: ${formatCount(summary.trainableParams)} (${formatBytes(summary.trainableParams)})`,
    `Non-trainable params: ${formatCount(summary.nonTrainableParams)} (${formatBytes(summary.nonTrainableParams)})`,
    `Outputs: ${summary.outputs.join(', ')}`,
    '_'.repeat(width),
    '',
  ].join('\n');
}
