/**
 * `export --format web`: a static page that finds the faces of an uploaded image or of the
 * webcam stream with face-api (as `affectlab predict` does) and classifies each in the browser.
 * Everything the page loads is in the export folder: tfjs' and face-api's browser builds, the
 * detector's weights from the npm package, and affectlab's own face-preparation modules as tsc
 * compiled them (the code predict's geometry runs), so the page needs no network and no CDN.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ExportFormat, withOptionDefaults, RunStore } from '../../sdk/index.js';
import { faceApiDetectorPlugin, faceApiModelDir } from '../detectors/face-api.js';
import { netsFor, type FaceApiDetectSettings } from '../detectors/face-api-detect.js';
import { APP_JS, INDEX_HTML } from './web-page.js';

const require = createRequire(import.meta.url);

/** affectlab's modules the page imports, compiled; each imports only the others (checked). */
const LIB_MODULES = [
  '../../core/pipeline/align.js',
  '../../core/pipeline/region.js',
  '../../core/pipeline/resize.js',
  '../../core/pipeline/face-input.js',
  '../detectors/face-api-detect.js',
];

/** The weight files face-api loads for each of its nets (`<prefix>-weights_manifest.json`, .bin). */
const NET_FILES: Record<string, string> = {
  ssdMobilenetv1: 'ssd_mobilenetv1_model',
  tinyFaceDetector: 'tiny_face_detector_model',
  faceLandmark68Net: 'face_landmark_68_model',
};

/** Module specifiers in compiled JavaScript: static and dynamic imports, re-exports. */
function specifiers(code: string): string[] {
  const found: string[] = [];
  const pattern =
    /\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(?\s*['"]([^'"]+)['"]/g;
  for (const match of code.matchAll(pattern)) found.push(match[1] ?? match[2]);
  return found;
}

/** Copy the page's affectlab modules into `dir`, refusing one that imports anything else. */
function copyLibModules(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const names = LIB_MODULES.map((m) => basename(m));
  for (const module of LIB_MODULES) {
    const file = fileURLToPath(new URL(module, import.meta.url));
    const code = readFileSync(file, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
    for (const spec of specifiers(code))
      if (!spec.startsWith('./') || !names.includes(spec.slice(2)))
        throw new Error(
          `web export: ${file} imports '${spec}', which the page does not have (its modules: ${names.join(', ')})`,
        );
    writeFileSync(join(dir, basename(module)), code);
  }
}

/** The detector the page runs: the `face-api` plugin's defaults, landmarks when the run aligns. */
function detectorSettings(crop: string): FaceApiDetectSettings {
  const defaults = withOptionDefaults(faceApiDetectorPlugin, {});
  return { ...defaults, landmarks: crop === 'aligned' };
}

/**
 * face-api's browser build (tfjs not bundled: the page maps its imports to tfjs' ES module) and
 * the weights of the nets `settings` uses.
 */
function copyFaceApi(outDir: string, settings: FaceApiDetectSettings): void {
  const faceApiDir = dirname(require.resolve('@vladmandic/face-api/package.json'));
  copyFileSync(
    join(faceApiDir, 'dist', 'face-api.esm-nobundle.js'),
    join(outDir, 'face-api.esm-nobundle.js'),
  );
  const weights = join(outDir, 'face-api-model');
  mkdirSync(weights);
  for (const net of netsFor(settings))
    for (const suffix of ['-weights_manifest.json', '.bin'])
      copyFileSync(
        join(faceApiModelDir(), NET_FILES[net] + suffix),
        join(weights, NET_FILES[net] + suffix),
      );
}

export const webExportFormat: ExportFormat = {
  name: 'web',
  description:
    'static web page that finds the faces of an uploaded or webcam image (face-api) and classifies each in the browser with the tfjs model',
  async export(context) {
    const { outDir, formats, run } = context;
    // the model and its description exactly as `--format tfjs` writes them, under model/
    const modelDir = join(outDir, 'model');
    await formats.get('tfjs').export({ ...context, outDir: modelDir });
    copyFileSync(join(modelDir, 'affectlab-model.json'), join(outDir, 'affectlab-model.json'));
    copyFileSync(
      require.resolve('@tensorflow/tfjs/dist/tf.fesm.min.js'),
      join(outDir, 'tf.fesm.min.js'),
    );
    const settings = detectorSettings(run.crop);
    copyFaceApi(outDir, settings);
    copyLibModules(join(outDir, 'lib'));
    writeFileSync(
      join(outDir, 'lib', 'none.js'),
      '// face-api imports tfjs backends the page does not use\nexport {};\n',
    );
    writeFileSync(
      join(outDir, 'detector.json'),
      JSON.stringify({ type: 'face-api', weights: 'face-api-model/', ...settings }, null, 2) + '\n',
    );
    writeFileSync(join(outDir, 'index.html'), INDEX_HTML);
    writeFileSync(join(outDir, 'app.js'), APP_JS);
    return {
      path: join(outDir, 'index.html'),
      files: new RunStore(outDir).files(),
      notes: [
        `web page of ${run.runId}: serve the folder over HTTP (browsers do not load models from file://), ` +
          `e.g. python3 -m http.server -d ${outDir} 8000, then open http://127.0.0.1:8000/ ` +
          '(the webcam needs http://127.0.0.1/localhost or https)',
        run.crop === 'full'
          ? 'the run trained on whole images: the page classifies each image whole unless "find faces" is ticked'
          : `the page finds faces with face-api (${settings.model}, min score ${settings.minScore}) and crops each as the run trained (${run.crop}, margin ${run.margin})`,
      ],
    };
  },
};
