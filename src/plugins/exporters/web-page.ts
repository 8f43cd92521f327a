/**
 * The static page of `export --format web`: plain HTML and browser JavaScript, no build step.
 * It reads affectlab-model.json at run time, so the same page serves every run.
 */

export const INDEX_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>affectlab: facial expression in the browser</title>
    <style>
      body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 52rem; }
      .row { display: flex; gap: 1.5rem; flex-wrap: wrap; align-items: flex-start; }
      #preview, video { max-width: 22rem; max-height: 18rem; background: #eee; }
      table { border-collapse: collapse; min-width: 16rem; }
      td { padding: 0.15rem 0.5rem; }
      td.bar { width: 10rem; }
      td.bar span { display: block; height: 0.8rem; background: #4a7bd0; }
      #status { color: #555; }
      button, input { margin: 0.3rem 0.5rem 0.3rem 0; }
    </style>
  </head>
  <body>
    <h1>Facial expression</h1>
    <p id="about"></p>
    <p>
      <input id="file" type="file" accept="image/*" />
      <button id="webcam" type="button">Use the webcam</button>
      <button id="snap" type="button" disabled>Classify the webcam frame</button>
    </p>
    <p id="status">loading the model...</p>
    <div class="row">
      <div>
        <img id="preview" alt="" hidden />
        <video id="video" autoplay playsinline muted hidden></video>
      </div>
      <table id="result"></table>
    </div>
    <p><small>The image stays in this browser: the model runs here with TensorFlow.js. The whole
      image is taken as the face (crop to the face first for the best results).</small></p>
    <script src="tf.min.js"></script>
    <script src="app.js"></script>
  </body>
</html>
`;

export const APP_JS = `'use strict';
// affectlab web export: the run's tfjs model in the browser. The input is prepared as the
// training pipeline prepares a whole image: EXIF orientation applied, stretched to the model's
// input size with bilinear filtering, RGB (or luminance) / 255.
(async () => {
  const status = document.getElementById('status');
  const params = new URLSearchParams(location.search);
  // affectlab's own layers (src/plugins/architectures/layers.ts), so AlexNet and ResNet-50
  // models load here as in Node
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
  try {
    if (params.get('backend')) await tf.setBackend(params.get('backend'));
    await tf.ready();
    const info = await (await fetch('affectlab-model.json')).json();
    const model = await tf.loadLayersModel('model/model.json');
    const [height, width, channels] = info.input.shape;
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext('2d', { willReadFrequently: true });
    const names = info.classes.map((c) => c.name);
    document.getElementById('about').textContent =
      'Run ' + info.runId + ' (' + info.experiment + '): ' +
      (names.length ? names.join(', ') : 'valence and arousal') +
      '; input ' + width + 'x' + height + ' ' + info.input.colour + '.';

    // sRGB <-> linear light, for luminance as libvips computes it (Y of linear RGB)
    const toLinear = (v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    const toSrgb = (v) => (v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055);

    function input(source) {
      context.imageSmoothingEnabled = true;
      context.clearRect(0, 0, width, height);
      context.drawImage(source, 0, 0, width, height);
      const rgba = context.getImageData(0, 0, width, height).data;
      const x = new Float32Array(height * width * channels);
      for (let i = 0; i < height * width; i++) {
        if (channels === 3) {
          x[3 * i] = rgba[4 * i] * info.input.scale;
          x[3 * i + 1] = rgba[4 * i + 1] * info.input.scale;
          x[3 * i + 2] = rgba[4 * i + 2] * info.input.scale;
        } else {
          const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]].map((v) => toLinear(v / 255));
          x[i] = Math.round(255 * toSrgb(0.2126 * r + 0.7152 * g + 0.0722 * b)) * info.input.scale;
        }
      }
      return x;
    }

    function show(result) {
      const table = document.getElementById('result');
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
      if (result.probabilities)
        result.probabilities.forEach((p, c) => row(names[c], p.toFixed(4), p));
      if (result.valenceArousal) {
        row('valence', result.valenceArousal[0].toFixed(4), (result.valenceArousal[0] + 1) / 2);
        row('arousal', result.valenceArousal[1].toFixed(4), (result.valenceArousal[1] + 1) / 2);
      }
      status.textContent = result.source + ': ' + (result.label ?? 'valence/arousal');
    }

    let count = 0;
    async function classify(source, label) {
      const x = input(source);
      const outputs = tf.tidy(() => {
        const y = model.predict(tf.tensor4d(x, [1, height, width, channels]));
        return (Array.isArray(y) ? y : [y]).map((t) => Array.from(t.dataSync()));
      });
      const result = { source: label, count: ++count, backend: tf.getBackend() };
      if (info.task !== 'valence-arousal') {
        result.probabilities = outputs[0];
        result.label = names[outputs[0].indexOf(Math.max(...outputs[0]))];
      }
      if (info.task !== 'classification')
        result.valenceArousal = outputs[info.task === 'valence-arousal' ? 0 : 1];
      window.affectlab.last = result;
      show(result);
      return result;
    }

    document.getElementById('file').addEventListener('change', async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      try {
        const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
        const preview = document.getElementById('preview');
        preview.src = URL.createObjectURL(file);
        preview.hidden = false;
        document.getElementById('video').hidden = true;
        await classify(bitmap, file.name);
        bitmap.close();
      } catch (error) {
        status.textContent = file.name + ': cannot read the image (' + error.message + ')';
        window.affectlab.error = String(error);
      }
    });

    const video = document.getElementById('video');
    document.getElementById('webcam').addEventListener('click', async () => {
      try {
        video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
        await video.play();
        video.hidden = false;
        document.getElementById('preview').hidden = true;
        document.getElementById('snap').disabled = false;
        await classify(video, 'webcam');
      } catch (error) {
        status.textContent = 'no webcam: ' + error.message;
        window.affectlab.error = String(error);
      }
    });
    document.getElementById('snap').addEventListener('click', () => classify(video, 'webcam'));

    window.affectlab = { info, classify, last: null, backend: tf.getBackend() };
    status.textContent = 'ready (' + tf.getBackend() + '): choose an image or use the webcam';
  } catch (error) {
    status.textContent = 'cannot start: ' + error.message;
    window.affectlab = { error: String(error) };
  }
})();
`;
