import {
  cacheStatus,
  fetchFile,
  type RemoteFile,
  UserError,
  type FileNote,
  type Logger,
} from '../../sdk/index.js';

/**
 * Keras Applications' ImageNet weight files, by backbone: the file name, the URL and the hash
 * that Keras' own source (keras/src/applications/*.py, Keras 3.15) passes to
 * `keras.utils.get_file(name, url, cache_subdir='models', file_hash=hash)`, so `weights:
 * imagenet` fetches the same file into the same cache (~/.keras/models) as
 * `keras.applications.X(weights='imagenet')`. `notop` is `include_top=False` (what the task
 * models load); `top` the 1000-class model. A new backbone adds its entry here.
 */
export interface ImagenetWeights {
  notop: RemoteFile;
  top?: RemoteFile;
}

const RESNET = 'https://storage.googleapis.com/tensorflow/keras-applications/resnet/';
const MOBILENET_V2 = 'https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/';
const EFFICIENTNET = 'https://storage.googleapis.com/keras-applications/';

function kerasFile(backbone: string, base: string, fileName: string, hash?: string): RemoteFile {
  return {
    fileName,
    url: base + fileName,
    ...(hash ? { hash } : {}),
    label: `Keras' ImageNet weights for ${backbone}`,
  };
}

export const IMAGENET_WEIGHTS: Readonly<Record<string, ImagenetWeights>> = {
  // keras/src/applications/resnet.py: WEIGHTS_HASHES['resnet50'] (md5: 32 hex digits)
  resnet50: {
    notop: kerasFile(
      'resnet50',
      RESNET,
      'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5',
      '4d473c1dd8becc155b73f8504c6f6626',
    ),
    top: kerasFile(
      'resnet50',
      RESNET,
      'resnet50_weights_tf_dim_ordering_tf_kernels.h5',
      '2cb95161c43110f7111970584f804107',
    ),
  },
  // keras/src/applications/mobilenet_v2.py (alpha 1.0, 224 rows): Keras passes no file_hash, so
  // the file is only checked to be HDF5 (and its layers by name when loaded)
  'mobilenet-v2': {
    notop: kerasFile(
      'mobilenet-v2',
      MOBILENET_V2,
      'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5',
    ),
    top: kerasFile(
      'mobilenet-v2',
      MOBILENET_V2,
      'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5',
    ),
  },
  // keras/src/applications/efficientnet.py: WEIGHTS_HASHES['b0'] (md5 in Keras 3; Keras 2.x's
  // keras-applications used sha256 hashes and other URLs)
  'efficientnet-b0': {
    notop: kerasFile(
      'efficientnet-b0',
      EFFICIENTNET,
      'efficientnetb0_notop.h5',
      '50bc09e76180e00e4465e1a485ddc09d',
    ),
    top: kerasFile(
      'efficientnet-b0',
      EFFICIENTNET,
      'efficientnetb0.h5',
      '902e53a9f72be733fc0bcb005b3ebbac',
    ),
  },
};

/** The file `weights: imagenet` means for `backbone` (with Keras' 1000-class top or without). */
export function imagenetWeightsFile(backbone: string, top = false): RemoteFile {
  const entry = Object.hasOwn(IMAGENET_WEIGHTS, backbone) ? IMAGENET_WEIGHTS[backbone] : undefined;
  if (!entry) throw new UserError(`${backbone}: Keras publishes no ImageNet weights for it`);
  if (top && !entry.top)
    throw new UserError(`${backbone}: no ImageNet weights with the 1000-class top are listed`);
  return top ? (entry.top as RemoteFile) : entry.notop;
}

/** The cached path of the ImageNet weights, downloaded on first use (see core/download.ts). */
export function imagenetWeights(
  backbone: string,
  options: { top?: boolean; logger?: Logger } = {},
): Promise<string> {
  return fetchFile(imagenetWeightsFile(backbone, options.top), { logger: options.logger });
}

/** What `validate` / `--dry-run` say about `weights: imagenet`: cached, or where it comes from. */
export function imagenetWeightsNote(backbone: string, top = false): FileNote {
  const file = imagenetWeightsFile(backbone, top);
  const { cached, path, url, hash } = cacheStatus(file);
  return { option: 'weights', what: file.label, cached, path, url, hash };
}
