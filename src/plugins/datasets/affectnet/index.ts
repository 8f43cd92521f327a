import { definePlugin } from '../../../sdk/index.js';
import { affectnetClassPresets } from './constants.js';
import { AffectNetDataset } from './dataset.js';
import { affectnetOptionsSchema } from './options.js';

export const affectnetDataset = definePlugin({
  kind: 'dataset',
  type: 'affectnet',
  description:
    "AffectNet (manually annotated file lists + images): class presets, the report's Table 3 split, bad-record handling",
  options: affectnetOptionsSchema,
  implementation: AffectNetDataset,
  classPresets: affectnetClassPresets,
  envHints: {
    AFFECTNET_ROOT:
      'AffectNet is licensed: request it from its authors and point AFFECTNET_ROOT at the folder holding ' +
      'Manually_Annotated_file_lists/ and Manually_Annotated_Images/. To try the experiment on synthetic ' +
      'AffectNet-format data (2,000 images: 10 per class for validation, not the 500 of the real set): ' +
      'affectlab synth --out data/synth && affectlab run {file} --set dataset.root=data/synth --set dataset.split.validationPerClass=10',
  },
});

export * from './constants.js';
export { AffectNetDataset, resolveRoot, type FileListCounts } from './dataset.js';
export { affectnetOptionsSchema, type AffectNetOptions, type SplitPolicy } from './options.js';
export {
  parseRow,
  checkHeader,
  isContainedPath,
  BAD_ROW,
  type AffectNetRecord,
} from './records.js';
export { readLines, splitCsvLine } from '../../../sdk/index.js';
export { balancedSplit, limitSubset } from './split.js';
export {
  generateSyntheticAffectNet,
  ensureSyntheticAffectNet,
  table1Allocation,
  balancedAllocation,
  SYNTH_DEFAULTS,
  SYNTH_MANIFEST,
  SYNTH_VERSION,
  type SynthOptions,
  type SynthResult,
} from './synth.js';
export { registerSynthCommand } from './synth-command.js';
