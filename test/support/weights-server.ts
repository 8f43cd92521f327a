import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type * as tf from '@tensorflow/tfjs';
import { hdf5 } from '../../src/plugins/architectures/keras-model/hdf5.js';

/**
 * A model's weights as a legacy Keras weights `.h5` (the layout of Keras Applications'
 * downloads: `layer_names` on the root, one group per layer with `weight_names` and its
 * datasets), written with h5wasm: a small real file to serve in place of Keras' ImageNet file.
 */
export async function writeLegacyWeightsH5(model: tf.LayersModel, path: string): Promise<void> {
  const h5 = await hdf5();
  const file = new h5.File(path, 'w');
  try {
    const layers = model.layers.filter((layer) => layer.weights.length > 0);
    file.create_attribute(
      'layer_names',
      layers.map((layer) => layer.name),
    );
    for (const layer of layers) {
      const group = file.create_group(layer.name);
      const names = layer.weights.map((w) => `${layer.name}/${w.originalName.split('/').pop()}:0`);
      group.create_attribute('weight_names', names);
      // Keras nests them: <layer>/<layer>/kernel:0 (the weight name is a path in the group)
      const inner = group.create_group(layer.name);
      layer.weights.forEach((weight, i) => {
        const value = weight.read();
        inner.create_dataset({
          name: names[i].split('/').pop() as string,
          data: value.dataSync() as Float32Array,
          shape: value.shape,
          dtype: '<f',
        });
      });
    }
  } finally {
    file.close();
  }
}

export interface WeightsServer {
  /** Base URL (ends in /): the file is served under any name. */
  url: string;
  /** The Range header of each request, or '' (in order). */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Serves `bytes` on 127.0.0.1 under every path, with HTTP Range (206) unless `ranges` is false.
 * `cutAfter`: the first response sends that many bytes of the body (with the full
 * Content-Length) and then drops the connection, as a cut network would. `status`: answer every
 * request with that status instead.
 */
export async function serveWeights(
  bytes: Buffer,
  options: { cutAfter?: number; ranges?: boolean; status?: number } = {},
): Promise<WeightsServer> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    const range = request.headers.range ?? '';
    requests.push(range);
    if (options.status) {
      response.writeHead(options.status).end('no');
      return;
    }
    const match = /^bytes=(\d+)-$/.exec(range);
    const start = match && options.ranges !== false ? Number(match[1]) : 0;
    const body = bytes.subarray(start);
    response.writeHead(start > 0 ? 206 : 200, {
      'content-length': String(body.length),
      'content-type': 'application/octet-stream',
      ...(start > 0
        ? { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` }
        : {}),
    });
    if (options.cutAfter !== undefined && requests.length === 1) {
      response.write(body.subarray(0, options.cutAfter), () => request.socket.destroy());
      return;
    }
    response.end(body);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
