/**
 * The static page of `export --format web`: plain HTML and browser JavaScript modules, no build
 * step. It reads affectlab-model.json and detector.json at run time, so the same page serves
 * every run. Faces are found by lib/face-api-detect.js and prepared by lib/face-input.js, the
 * compiled modules `affectlab predict` runs in Node (see web.ts), not by a copy of them.
 */

export const INDEX_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>affectlab: facial expression in the browser</title>
    <style>
      body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 64rem; }
      .row { display: flex; gap: 1.5rem; flex-wrap: wrap; align-items: flex-start; }
      #view { max-width: 36rem; max-height: 30rem; background: #eee; }
      #video { position: absolute; left: -10000px; width: 320px; }
      table { border-collapse: collapse; min-width: 16rem; }
      td, th { padding: 0.15rem 0.5rem; text-align: left; }
      td.bar { width: 10rem; }
      td.bar span { display: block; height: 0.8rem; background: #4a7bd0; }
      #status { color: #555; }
      button, input, label { margin: 0.3rem 0.5rem 0.3rem 0; }
    </style>
    <!-- face-api's browser build imports tfjs by these names: the page's own tfjs ES module -->
    <script type="importmap">
      {
        "imports": {
          "@tensorflow/tfjs/dist/index.js": "./tf.fesm.min.js",
          "@tensorflow/tfjs-backend-webgl/dist/index.js": "./lib/none.js",
          "@tensorflow/tfjs-backend-wasm/dist/index.js": "./lib/none.js"
        }
      }
    </script>
  </head>
  <body>
    <h1>Facial expression</h1>
    <p id="about"></p>
    <p>
      <input id="file" type="file" accept="image/*" />
      <button id="webcam" type="button">Use the webcam</button>
      <label><input id="detect" type="checkbox" /> find faces (face-api)</label>
    </p>
    <p id="status">loading the model...</p>
    <div class="row">
      <canvas id="view" width="320" height="240"></canvas>
      <table id="result"></table>
    </div>
    <video id="video" autoplay playsinline muted></video>
    <p><small>The image stays in this browser: the face detector and the model run here with
      TensorFlow.js. With "find faces" each face is cropped as the run was trained (face box and
      margin, or aligned by the eyes) and classified on its own; without it the whole image is
      taken as one face.</small></p>
    <script type="module" src="app.js"></script>
  </body>
</html>
`;

/** affectlab's own layers (src/plugins/architectures/layers.ts), so every model loads here. */
const LAYERS_JS = `
function registerLayers() {
  class LocalResponseNormalization extends tf.layers.Layer {
    static className = 'LocalResponseNormalization';
    constructor(args = {}) {
      super(args);
      this.depthRadius = args.depthRadius ?? 2;
      this.bias = args.bias ?? 1;
      this.alpha = args.alpha ?? 1e-4 / 5;
      this.beta = args.beta ?? 0.75;
    }
    call(inputs) {
      return tf.tidy(() => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        return tf.localResponseNormalization(x, this.depthRadius, this.bias, this.alpha, this.beta);
      });
    }
    getConfig() {
      const { depthRadius, bias, alpha, beta } = this;
      return { ...super.getConfig(), depthRadius, bias, alpha, beta };
    }
  }
  const BatchNormalization = tf.layers.batchNormalization().constructor;
  class FreezableBatchNormalization extends BatchNormalization {
    static className = 'FreezableBatchNormalization';
    call(inputs, kwargs) {
      return super.call(inputs, this.trainable ? kwargs : { ...kwargs, training: false });
    }
  }
  class CaffePreprocessing extends tf.layers.Layer {
    static className = 'CaffePreprocessing';
    call(inputs) {
      return tf.tidy(() => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        return tf.reverse(x, -1).mul(255).sub(tf.tensor1d([103.939, 116.779, 123.68]));
      });
    }
  }
  // Keras' Normalization (EfficientNet's stem): (x - mean) / max(sqrt(variance), 1e-7)
  class Normalization extends tf.layers.Layer {
    static className = 'Normalization';
    build(inputShape) {
      const channels = inputShape[inputShape.length - 1];
      const add = (name, shape, init) =>
        this.addWeight(name, shape, 'float32', init, undefined, false);
      this.mean = add('mean', [channels], tf.initializers.zeros());
      this.variance = add('variance', [channels], tf.initializers.ones());
      add('count', [], tf.initializers.zeros());
      this.built = true;
    }
    call(inputs) {
      return tf.tidy(() => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        const deviation = tf.maximum(tf.sqrt(this.variance.read()), 1e-7);
        return x.sub(this.mean.read()).div(deviation);
      });
    }
  }
  for (const layer of [
    LocalResponseNormalization,
    FreezableBatchNormalization,
    CaffePreprocessing,
    Normalization,
  ])
    tf.serialization.registerClass(layer);
}
`;

/** Reading frames, running the model, drawing boxes and the table. */
const VIEW_JS = `
const $ = (id) => document.getElementById(id);
// the colour of predict --annotate's boxes
const BOX_COLOUR = '#00ff00';
const reader = document.createElement('canvas').getContext('2d', { willReadFrequently: true });

/** An image, bitmap or video frame as upright RGB at its own size (and its RGBA, to show). */
function rgbPixels(source, width, height) {
  reader.canvas.width = width;
  reader.canvas.height = height;
  reader.drawImage(source, 0, 0, width, height);
  const rgba = reader.getImageData(0, 0, width, height);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    data[3 * i] = rgba.data[4 * i];
    data[3 * i + 1] = rgba.data[4 * i + 1];
    data[3 * i + 2] = rgba.data[4 * i + 2];
  }
  return { image: { data, width, height }, rgba };
}

/** Model outputs of prepared inputs (uint8 HWC), one batch: probabilities and/or valence/arousal. */
function runModel(model, info, inputs) {
  if (inputs.length === 0) return [];
  const [height, width, channels] = info.input.shape;
  const size = height * width * channels;
  const x = new Float32Array(inputs.length * size);
  inputs.forEach((pixels, n) => {
    for (let j = 0; j < size; j++) x[n * size + j] = pixels[j] * info.input.scale;
  });
  const outputs = tf.tidy(() => {
    const y = model.predict(tf.tensor4d(x, [inputs.length, height, width, channels]));
    return (Array.isArray(y) ? y : [y]).map((t) => Array.from(t.dataSync()));
  });
  const k = info.classes.length;
  return inputs.map((_, n) => {
    const result = {};
    if (info.task !== 'valence-arousal') {
      result.probabilities = outputs[0].slice(n * k, (n + 1) * k);
      const best = result.probabilities.indexOf(Math.max(...result.probabilities));
      result.label = info.classes[best].name;
    }
    if (info.task !== 'classification') {
      const va = outputs[info.task === 'valence-arousal' ? 0 : 1];
      result.valenceArousal = [va[2 * n], va[2 * n + 1]];
    }
    return result;
  });
}

/** What is written next to a face: the class and its probability, or valence and arousal. */
function faceText(face) {
  if (face.probabilities) return face.label + ' ' + Math.max(...face.probabilities).toFixed(2);
  return 'v ' + face.valenceArousal[0].toFixed(2) + ' a ' + face.valenceArousal[1].toFixed(2);
}

/** The frame on the page's canvas with a box and label per face, sized as predict --annotate. */
function draw(rgba, faces) {
  const view = $('view');
  view.width = rgba.width;
  view.height = rgba.height;
  const context = view.getContext('2d');
  context.putImageData(rgba, 0, 0);
  const stroke = Math.max(2, Math.round(Math.min(rgba.width, rgba.height) / 300));
  const font = Math.max(12, Math.round(Math.min(rgba.width, rgba.height) / 40));
  context.lineWidth = stroke;
  context.font = font + 'px sans-serif';
  for (const face of faces) {
    const { x, y, width, height } = face.box;
    context.strokeStyle = BOX_COLOUR;
    context.strokeRect(x, y, width, height);
    const text = face.index + ': ' + faceText(face);
    const ty = y > font + stroke ? y - stroke - 2 : y + height + font;
    context.lineWidth = Math.max(1, stroke / 2);
    context.strokeStyle = '#000';
    context.strokeText(text, x, ty);
    context.fillStyle = BOX_COLOUR;
    context.fillText(text, x, ty);
    context.lineWidth = stroke;
  }
}

/** The probabilities (or valence and arousal) of the whole image or of each face. */
function show(result, names) {
  const table = $('result');
  table.replaceChildren();
  const row = (label, value, fraction) => {
    const tr = table.insertRow();
    tr.insertCell().textContent = label;
    tr.insertCell().textContent = value;
    const bar = tr.insertCell();
    bar.className = 'bar';
    if (fraction !== undefined) {
      const span = document.createElement('span');
      span.style.width = Math.round(100 * Math.max(0, Math.min(1, fraction))) + '%';
      bar.append(span);
    }
  };
  const rows = (r) => {
    if (r.probabilities) r.probabilities.forEach((p, c) => row(names[c], p.toFixed(4), p));
    if (r.valenceArousal) {
      row('valence', r.valenceArousal[0].toFixed(4), (r.valenceArousal[0] + 1) / 2);
      row('arousal', r.valenceArousal[1].toFixed(4), (r.valenceArousal[1] + 1) / 2);
    }
  };
  if (result.detector === 'none') rows(result);
  for (const face of result.faces) {
    const th = document.createElement('th');
    th.colSpan = 3;
    th.textContent = 'face ' + face.index + ' (detector score ' + face.score.toFixed(2) + ')';
    table.insertRow().append(th);
    rows(face);
  }
}
`;

/** Start-up and the controls: upload, webcam stream, the "find faces" switch. */
const MAIN_JS = `
async function main() {
  const status = $('status');
  const params = new URLSearchParams(location.search);
  registerLayers();
  if (params.get('backend')) await tf.setBackend(params.get('backend'));
  await tf.ready();
  const info = await (await fetch('affectlab-model.json')).json();
  const settings = await (await fetch('detector.json')).json();
  const model = await tf.loadLayersModel('model/model.json');
  const [height, width, channels] = info.input.shape;
  const spec = { height, width, channels };
  const { faceBoxMargin: margin, crop } = info.preprocessing;
  const names = info.classes.map((c) => c.name);
  let detector = 'not loaded';
  try {
    for (const net of netsFor(settings)) await faceapi.nets[net].loadFromUri(settings.weights);
    detector = 'ready';
  } catch (error) {
    detector = 'cannot load the face detector: ' + error.message;
  }
  const detect = $('detect');
  detect.disabled = detector !== 'ready';
  // as predict: faces are found unless the run trained on whole images or ?detector=none
  const wanted = params.get('detector') ?? (crop === 'full' ? 'none' : settings.type);
  detect.checked = detector === 'ready' && wanted !== 'none';
  document.getElementById('about').textContent =
    'Run ' + info.runId + ' (' + info.experiment + '): ' +
    (names.length ? names.join(', ') : 'valence and arousal') +
    '; input ' + width + 'x' + height + ' ' + info.input.colour + '; faces cropped ' +
    (crop === 'aligned' ? 'aligned by the eyes' : crop === 'full' ? 'whole' : 'to the face box') +
    ' with margin ' + margin + '.';

  let count = 0;
  async function classify(source, sourceWidth, sourceHeight, label) {
    const started = performance.now();
    const { image, rgba } = rgbPixels(source, sourceWidth, sourceHeight);
    let result;
    if (detect.checked) {
      const found = await detectFaces(faceapi, tf, image, settings);
      const outputs = runModel(model, info, found.map((f) => faceInput(image, f, margin, spec, crop)));
      const faces = found.map((f, index) => ({ index, box: f.box, score: f.score, ...outputs[index] }));
      result = { source: label, detector: settings.type, faces };
    } else {
      result = { source: label, detector: 'none', faces: [], ...runModel(model, info, [imageInput(image, spec)])[0] };
    }
    Object.assign(result, { count: ++count, backend: tf.getBackend(), width: sourceWidth, height: sourceHeight });
    result.seconds = (performance.now() - started) / 1000;
    draw(rgba, result.faces);
    show(result, names);
    status.textContent = label + ': ' + (result.detector === 'none'
      ? (result.label ?? 'valence/arousal') + ' (whole image)'
      : result.faces.length === 0
        ? 'no face found (untick "find faces" to classify the whole image)'
        : result.faces.length + ' face(s): ' + result.faces.map((f) => faceText(f)).join(', '));
    window.affectlab.last = result;
    return result;
  }

  let upload;
  document.getElementById('file').addEventListener('change', async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    try {
      stopWebcam();
      upload?.bitmap.close();
      const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
      upload = { bitmap, name: file.name };
      await classify(bitmap, bitmap.width, bitmap.height, file.name);
    } catch (error) {
      status.textContent = file.name + ': cannot read the image (' + error.message + ')';
      window.affectlab.error = String(error);
    }
  });
  detect.addEventListener('change', () => {
    if (upload && !live) classify(upload.bitmap, upload.bitmap.width, upload.bitmap.height, upload.name);
  });

  // the webcam: each frame is classified (and its faces drawn) as soon as the previous is done
  const video = $('video');
  const button = $('webcam');
  let live = false;
  function stopWebcam() {
    live = false;
    button.textContent = 'Use the webcam';
    video.srcObject?.getTracks().forEach((track) => track.stop());
    video.srcObject = null;
  }
  button.addEventListener('click', async () => {
    if (live) return stopWebcam();
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      await video.play();
      live = true;
      button.textContent = 'Stop the webcam';
      while (live) {
        if (video.videoWidth > 0) await classify(video, video.videoWidth, video.videoHeight, 'webcam');
        // a macrotask between frames: clicks (stop) and the page's other work get their turn
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    } catch (error) {
      stopWebcam();
      status.textContent = 'no webcam: ' + error.message;
      window.affectlab.error = String(error);
    }
  });

  window.affectlab = { info, settings, classify, last: null, backend: tf.getBackend(), detector };
  status.textContent = 'ready (' + tf.getBackend() + '; face detector: ' + detector + '): choose an image or use the webcam';
}

main().catch((error) => {
  $('status').textContent = 'cannot start: ' + error.message;
  window.affectlab = { error: String(error) };
});
`;

export const APP_JS = `// affectlab web export: the run's tfjs model in the browser. Faces are found by face-api as
// affectlab predict finds them and prepared by the same modules (lib/): the face box grown by
// the run's margin, or aligned by the eyes, stretched to the model's input as sharp stretches
// it, RGB (or luminance) / 255. Without "find faces" the whole image is the input.
import * as tf from './tf.fesm.min.js';
import * as faceapi from './face-api.esm-nobundle.js';
import { detectFaces, netsFor } from './lib/face-api-detect.js';
import { faceInput, imageInput } from './lib/face-input.js';
${LAYERS_JS}${VIEW_JS}${MAIN_JS}`;
