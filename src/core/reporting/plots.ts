import sharp from 'sharp';

/** Plots drawn as SVG and rasterised by sharp (librsvg): no browser, no canvas. */

const FONT = 'font-family="DejaVu Sans, Arial, sans-serif"';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function confusionMatrixSvg(
  matrix: number[][],
  classNames: string[],
  title = 'Confusion matrix',
): string {
  const n = classNames.length;
  const cell = Math.max(36, Math.min(72, Math.floor(560 / Math.max(n, 1))));
  const left = 120;
  const top = 70;
  const width = left + n * cell + 30;
  const height = top + n * cell + 110;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="28" font-size="18" text-anchor="middle">${esc(title)}</text>`,
    `<text x="${left + (n * cell) / 2}" y="${top + n * cell + 90}" font-size="14" text-anchor="middle">Predicted</text>`,
    `<text x="20" y="${top + (n * cell) / 2}" font-size="14" text-anchor="middle" transform="rotate(-90 20 ${top + (n * cell) / 2})">Actual</text>`,
  ];
  matrix.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((v, j) => {
      const share = v / total; // colour by row share = recall along the diagonal
      const shade = Math.round(255 - share * 200);
      const fill = `rgb(${shade},${shade},255)`;
      const x = left + j * cell;
      const y = top + i * cell;
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#888"/>`,
      );
      parts.push(
        `<text x="${x + cell / 2}" y="${y + cell / 2 + 5}" font-size="12" text-anchor="middle" fill="${share > 0.6 ? 'white' : 'black'}">${v}</text>`,
      );
    });
  });
  classNames.forEach((name, k) => {
    parts.push(
      `<text x="${left - 6}" y="${top + k * cell + cell / 2 + 4}" font-size="12" text-anchor="end">${esc(name)}</text>`,
    );
    const x = left + k * cell + cell / 2;
    const y = top + n * cell + 12;
    parts.push(
      `<text x="${x}" y="${y}" font-size="12" text-anchor="end" transform="rotate(-45 ${x} ${y})">${esc(name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface Series {
  name: string;
  points: [number, number][];
}

/** Line chart of several series sharing an x axis (epochs). */
export function lineChartSvg(title: string, series: Series[], xLabel = 'epoch'): string {
  const width = 480;
  const height = 320;
  const m = { left: 56, right: 16, top: 36, bottom: 64 };
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  // reduce, not Math.min(...xs): a series may be per step (hundreds of thousands of points)
  const range = (vs: number[]): [number, number] =>
    vs.length ? [vs.reduce((a, b) => Math.min(a, b)), vs.reduce((a, b) => Math.max(a, b))] : [0, 1];
  const [x0, x1] = range(xs);
  let [y0, y1] = range(ys);
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0 || 1)) * (width - m.left - m.right);
  const sy = (y: number) =>
    height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" font-size="15" text-anchor="middle">${esc(title)}</text>`,
    `<line x1="${m.left}" y1="${height - m.bottom}" x2="${width - m.right}" y2="${height - m.bottom}" stroke="black"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${height - m.bottom}" stroke="black"/>`,
    `<text x="${(m.left + width - m.right) / 2}" y="${height - m.bottom + 32}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const v = y0 + ((y1 - y0) * k) / 4;
    parts.push(
      `<text x="${m.left - 6}" y="${sy(v) + 4}" font-size="10" text-anchor="end">${v.toPrecision(3)}</text>`,
    );
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    parts.push(
      `<text x="${sx(x)}" y="${height - m.bottom + 14}" font-size="10" text-anchor="middle">${x}</text>`,
    );
  }
  series.forEach((s, i) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    const color = colors[i % colors.length];
    if (pts.length > 1) {
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, y]) => `${sx(x)},${sy(y)}`).join(' ')}"/>`,
      );
    }
    for (const [x, y] of pts)
      parts.push(`<circle cx="${sx(x)}" cy="${sy(y)}" r="3" fill="${color}"/>`);
    parts.push(
      `<rect x="${m.left + i * 110}" y="${height - 20}" width="10" height="10" fill="${color}"/>`,
    );
    parts.push(
      `<text x="${m.left + i * 110 + 14}" y="${height - 11}" font-size="11">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Several charts side by side in one SVG. */
export function sideBySideSvg(svgs: string[]): string {
  const width = 480;
  const inner = svgs.map(
    (s, i) =>
      `<g transform="translate(${i * width},0)">${s.replace(/^<svg[^>]*>/, '').replace(/<\/svg>$/, '')}</g>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width * svgs.length}" height="320">${inner.join('')}</svg>`;
}

export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}
