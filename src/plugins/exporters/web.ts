/** `export --format web`: a static page that classifies an uploaded or webcam image in the browser. */
import { copyFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ExportFormat } from '../../core/inference/export-formats.js';
import { APP_JS, INDEX_HTML } from './web-page.js';
import { RunStore } from '../../core/reporting/run-store.js';

/** tfjs' browser bundle, shipped with the page so it works offline and pins the version. */
function tfjsBundle(): string {
  return createRequire(import.meta.url).resolve('@tensorflow/tfjs/dist/tf.min.js');
}

export const webExportFormat: ExportFormat = {
  name: 'web',
  description:
    'static web page classifying an uploaded or webcam image in the browser with the tfjs model',
  async export(context) {
    const { outDir, formats } = context;
    // the model and its description exactly as `--format tfjs` writes them, under model/
    const modelDir = join(outDir, 'model');
    await formats.get('tfjs').export({ ...context, outDir: modelDir });
    copyFileSync(join(modelDir, 'affectlab-model.json'), join(outDir, 'affectlab-model.json'));
    copyFileSync(tfjsBundle(), join(outDir, 'tf.min.js'));
    writeFileSync(join(outDir, 'index.html'), INDEX_HTML);
    writeFileSync(join(outDir, 'app.js'), APP_JS);
    return {
      path: join(outDir, 'index.html'),
      files: new RunStore(outDir).files(),
      notes: [
        `web page of ${context.run.runId}: serve the folder over HTTP (browsers do not load models from file://), ` +
          `e.g. python3 -m http.server -d ${outDir} 8000, then open http://127.0.0.1:8000/ ` +
          '(the webcam needs http://127.0.0.1/localhost or https)',
      ],
    };
  },
};
