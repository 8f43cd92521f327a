/**
 * The TensorFlow process settings affectlab chooses, applied before libtensorflow loads (the
 * native tfjs package in BackendService, the graph addon): oneDNN's CPU kernels on
 * (`TF_ENABLE_ONEDNN_OPTS=1`). TensorFlow 2.18 turns them on by itself only on CPUs with
 * AVX-512 VNNI/BF16 or AMX; on a 2-core AMD EPYC (AVX2) the compiled VGG-type step ran about
 * 1.4x faster with them (bench/RESULTS.md, issue 30). A value already in the environment wins:
 * `TF_ENABLE_ONEDNN_OPTS=0` keeps TensorFlow's own kernels.
 */
export function applyTensorFlowDefaults(env: NodeJS.ProcessEnv = process.env): void {
  env.TF_ENABLE_ONEDNN_OPTS ??= '1';
}
