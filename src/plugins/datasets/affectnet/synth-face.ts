/**
 * Procedural faces for the synthetic AffectNet-format set. A face is 68 landmarks (the iBUG
 * layout AffectNet uses) computed from expression parameters in a canonical face frame; the
 * SVG is drawn from those same landmarks, so the CSV's landmarks match the picture. The category
 * sets the parameters' means; intensity, per-parameter noise and nuisance factors (pose, scale,
 * skin tone, lighting, clutter, occlusion, glasses, hair) vary independently of it.
 */
import type { FaceBox, Random } from '../../../sdk/index.js';

export interface Point {
  x: number;
  y: number;
}

/** What an expression does to the face; 0 (or 1 for the multipliers) is neutral. */
export interface ExpressionParams {
  /** Mouth corners up (+, smile) or down (-). */
  mouthCurve: number;
  /** Lip gap, 0 closed .. 1 wide open. */
  mouthOpen: number;
  /** Multiplier of the mouth's width. */
  mouthWidth: number;
  /** Upper lip lifted at the centre (disgust). */
  upperLipRaise: number;
  /** Teeth visible when the mouth is open, 0..1. */
  teeth: number;
  /** Both brows up (+) or down (-). */
  browRaise: number;
  /** Inner brow ends up (+, sad/fear) or down (-, anger). */
  browSlant: number;
  /** Multiplier of the eye opening. */
  eyeOpen: number;
  /** One mouth corner raised (contempt), signed: which side. */
  asymmetry: number;
  /** Wrinkles across the nose bridge (disgust), 0..1. */
  noseWrinkle: number;
  /** Vertical lines between the brows (anger), 0..1. */
  browFurrow: number;
}

export const NEUTRAL_PARAMS: ExpressionParams = {
  mouthCurve: 0,
  mouthOpen: 0,
  mouthWidth: 1,
  upperLipRaise: 0,
  teeth: 0,
  browRaise: 0,
  browSlant: 0,
  eyeOpen: 1,
  asymmetry: 0,
  noseWrinkle: 0,
  browFurrow: 0,
};

/** Prototype parameters of the eight emotions (codes 0..7). */
const PROTOTYPES: Partial<ExpressionParams>[] = [
  {},
  {
    mouthCurve: 0.85,
    mouthOpen: 0.3,
    mouthWidth: 1.18,
    teeth: 0.8,
    eyeOpen: 0.78,
    browRaise: 0.05,
  },
  { mouthCurve: -0.65, mouthWidth: 0.92, browSlant: 0.75, browRaise: -0.05, eyeOpen: 0.78 },
  { mouthOpen: 0.9, mouthWidth: 0.72, browRaise: 0.9, eyeOpen: 1.5 },
  {
    mouthOpen: 0.5,
    mouthWidth: 1.22,
    mouthCurve: -0.2,
    teeth: 0.5,
    browRaise: 0.5,
    browSlant: 0.65,
    eyeOpen: 1.4,
  },
  {
    upperLipRaise: 0.85,
    mouthCurve: -0.35,
    noseWrinkle: 0.9,
    browRaise: -0.35,
    browSlant: -0.2,
    eyeOpen: 0.68,
  },
  {
    browSlant: -0.9,
    browRaise: -0.45,
    browFurrow: 0.85,
    mouthWidth: 0.85,
    mouthOpen: 0.12,
    teeth: 0.5,
    mouthCurve: -0.2,
    eyeOpen: 1.0,
  },
  { asymmetry: 0.85, mouthCurve: 0.08, eyeOpen: 0.9 },
];

const PARAM_KEYS = Object.keys(NEUTRAL_PARAMS) as (keyof ExpressionParams)[];

/** Sample spread of each parameter around its (intensity-scaled) prototype. */
const PARAM_NOISE: ExpressionParams = {
  mouthCurve: 0.18,
  mouthOpen: 0.1,
  mouthWidth: 0.07,
  upperLipRaise: 0.12,
  teeth: 0.2,
  browRaise: 0.18,
  browSlant: 0.18,
  eyeOpen: 0.12,
  asymmetry: 0.15,
  noseWrinkle: 0.15,
  browFurrow: 0.15,
};

export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function clampParams(p: ExpressionParams): ExpressionParams {
  return {
    mouthCurve: clamp(p.mouthCurve, -1, 1),
    mouthOpen: clamp(p.mouthOpen, 0, 1),
    mouthWidth: clamp(p.mouthWidth, 0.6, 1.4),
    upperLipRaise: clamp(p.upperLipRaise, 0, 1),
    teeth: clamp(p.teeth, 0, 1),
    browRaise: clamp(p.browRaise, -1, 1),
    browSlant: clamp(p.browSlant, -1, 1),
    eyeOpen: clamp(p.eyeOpen, 0.3, 1.7),
    asymmetry: clamp(p.asymmetry, -1, 1),
    noseWrinkle: clamp(p.noseWrinkle, 0, 1),
    browFurrow: clamp(p.browFurrow, 0, 1),
  };
}

/** Neutral + intensity x (prototype - neutral): weak expressions drift towards Neutral. */
function scaled(prototype: Partial<ExpressionParams>, intensity: number): ExpressionParams {
  const out = { ...NEUTRAL_PARAMS };
  for (const key of PARAM_KEYS) {
    const target = prototype[key];
    if (target !== undefined)
      out[key] = NEUTRAL_PARAMS[key] + intensity * (target - NEUTRAL_PARAMS[key]);
  }
  return out;
}

/**
 * Valence/arousal of each emotion's prototype at intensity 1 (Russell's circumplex, roughly where
 * AffectNet's annotators put them).
 */
const PROTOTYPE_AFFECT: readonly (readonly [number, number])[] = [
  [0, 0],
  [0.68, 0.3],
  [-0.62, -0.28],
  [0.15, 0.68],
  [-0.52, 0.66],
  [-0.62, 0.26],
  [-0.55, 0.6],
  [-0.42, 0.2],
];

/** Intensities of a clear emotion: its prototype is scaled by a factor drawn from this range. */
const INTENSITY_RANGE: readonly [number, number] = [0.8, 1.3];
const MEAN_INTENSITY = (INTENSITY_RANGE[0] + INTENSITY_RANGE[1]) / 2;

/** A sampled face: its parameters and the valence/arousal its drawing shows. */
export interface SampledExpression {
  params: ExpressionParams;
  valence: number;
  arousal: number;
}

/**
 * What an annotator would read from the drawn face: the emotion's affect scaled by its intensity,
 * moved by the visible deviations from the prototype (a broader smile is more positive; wider
 * eyes, an open mouth and raised brows more aroused). Everything here is visible in the image,
 * so a CNN can learn valence/arousal within a class, not only between classes.
 */
function readAffect(
  affect: readonly [number, number],
  expected: ExpressionParams,
  drawn: ExpressionParams,
): [number, number] {
  const d = (key: keyof ExpressionParams): number => drawn[key] - expected[key];
  const valence = affect[0] + 0.6 * d('mouthCurve') - 0.15 * d('browFurrow');
  const arousal =
    affect[1] + 0.5 * d('eyeOpen') + 0.35 * d('mouthOpen') + 0.25 * Math.abs(d('browRaise'));
  return [clamp(valence, -1, 1), clamp(arousal, -1, 1)];
}

/**
 * Expression parameters of one face of AffectNet code `code` (0..9), with the affect it shows.
 * None (8) is an arbitrary mild expression; Uncertain (9) a half-way blend of two emotions.
 */
export function sampleExpression(code: number, rng: Random): SampledExpression {
  let base: ExpressionParams;
  let affect: [number, number];
  if (code <= 7) {
    const intensity = rng.uniform(INTENSITY_RANGE[0], INTENSITY_RANGE[1]);
    base = scaled(PROTOTYPES[code], intensity);
    const k = intensity / MEAN_INTENSITY;
    affect = [PROTOTYPE_AFFECT[code][0] * k, PROTOTYPE_AFFECT[code][1] * k];
  } else if (code === 8) {
    base = { ...NEUTRAL_PARAMS };
    for (const key of PARAM_KEYS) base[key] += rng.uniform(-1, 1) * PARAM_NOISE[key] * 3;
    // read relative to the neutral face: the mild expression itself carries the affect
    affect = readAffect([0, 0], NEUTRAL_PARAMS, base);
  } else {
    const codeA = 1 + rng.int(7);
    const intensityA = rng.uniform(0.5, 0.9);
    const a = scaled(PROTOTYPES[codeA], intensityA);
    const codeB = 1 + rng.int(7);
    const intensityB = rng.uniform(0.5, 0.9);
    const b = scaled(PROTOTYPES[codeB], intensityB);
    base = { ...NEUTRAL_PARAMS };
    for (const key of PARAM_KEYS) base[key] = (a[key] + b[key]) / 2;
    affect = [0, 1].map(
      (i) =>
        (PROTOTYPE_AFFECT[codeA][i] * intensityA + PROTOTYPE_AFFECT[codeB][i] * intensityB) /
        (2 * MEAN_INTENSITY),
    ) as [number, number];
  }
  if (code === 7 && rng.next() < 0.5) base.asymmetry = -base.asymmetry;
  // Within-class spread: enough that classes overlap a little, not so much that a small CNN
  // needs tens of epochs (the quickstart must learn them in a few minutes on 2 cores).
  const expected = { ...base };
  for (const key of PARAM_KEYS) base[key] += rng.normal() * PARAM_NOISE[key] * 0.6;
  const params = clampParams(base);
  const [valence, arousal] = readAffect(affect, expected, params);
  return { params, valence, arousal };
}

/** Half-width of the face is 1 in the canonical frame; y points down; (0,0) the face centre. */
const FACE_RY = 1.28;

/** The 68 iBUG landmarks of a face with these parameters, in the canonical face frame. */
export function faceLandmarks(p: ExpressionParams): Point[] {
  const pts: Point[] = [];
  // 0-16 jaw, from the image-left temple round the chin to the image-right temple
  for (let k = 0; k <= 16; k++) {
    const theta = Math.PI + 0.22 - (k * (Math.PI + 0.44)) / 16;
    pts.push({ x: Math.cos(theta) * 0.98, y: Math.sin(theta) * FACE_RY * 0.97 + 0.05 });
  }
  // 17-21 left brow (outer -> inner), 22-26 right brow (inner -> outer)
  const browY = -0.52 - 0.16 * p.browRaise;
  for (const side of [-1, 1]) {
    const brow: Point[] = [];
    for (let k = 0; k < 5; k++) {
      const t = k / 4; // 0 outer .. 1 inner
      const x = side * (0.72 - 0.56 * t);
      const arch = -0.07 * Math.sin(Math.PI * t);
      brow.push({ x, y: browY + arch - 0.16 * p.browSlant * t * t + 0.05 * p.browSlant * (1 - t) });
    }
    pts.push(...(side < 0 ? brow : brow.reverse()));
  }
  // 27-30 nose bridge, 31-35 nostrils
  for (let k = 0; k < 4; k++) pts.push({ x: 0, y: -0.32 + k * 0.17 });
  for (let k = 0; k < 5; k++)
    pts.push({
      x: -0.2 + k * 0.1,
      y: 0.27 - 0.04 * Math.sin((Math.PI * k) / 4) - 0.04 * p.noseWrinkle,
    });
  // 36-41 left eye, 42-47 right eye: corner, two top, corner, two bottom (clockwise)
  const eyeHalfWidth = 0.19;
  const eyeHalfHeight = 0.085 * p.eyeOpen;
  for (const side of [-1, 1]) {
    const cx = side * 0.4;
    const cy = -0.24;
    const outer = { x: cx + side * eyeHalfWidth, y: cy };
    const inner = { x: cx - side * eyeHalfWidth, y: cy };
    const top = (f: number): Point => ({
      x: cx + side * f * eyeHalfWidth,
      y: cy - eyeHalfHeight * (1 - 0.5 * f * f) - 0.02,
    });
    const bottom = (f: number): Point => ({
      x: cx + side * f * eyeHalfWidth,
      y: cy + eyeHalfHeight * 0.8 * (1 - 0.5 * f * f),
    });
    if (side < 0) pts.push(outer, top(0.45), top(-0.45), inner, bottom(-0.45), bottom(0.45));
    else pts.push(inner, top(-0.45), top(0.45), outer, bottom(0.45), bottom(-0.45));
  }
  // 48-59 outer lips, 60-67 inner lips
  const mouthY = 0.6;
  const halfWidth = 0.34 * p.mouthWidth;
  const gap = 0.24 * p.mouthOpen;
  const lift = (side: number): number =>
    -0.13 * p.mouthCurve - (side * p.asymmetry > 0 ? 0.14 * Math.abs(p.asymmetry) : 0);
  const left = { x: -halfWidth, y: mouthY + lift(-1) };
  const right = { x: halfWidth, y: mouthY + lift(1) };
  const upper = (f: number, thickness: number): Point => {
    const cornerLift = f < 0 ? lift(-1) : lift(1);
    const curve = cornerLift * Math.abs(f) ** 2;
    const raise = p.upperLipRaise * 0.1 * (1 - Math.abs(f));
    return {
      x: f * halfWidth,
      y:
        mouthY +
        curve -
        gap / 2 -
        thickness -
        raise -
        0.02 * Math.cos((Math.PI * f) / 2) * (1 - gap),
    };
  };
  const lower = (f: number, thickness: number): Point => {
    const cornerLift = f < 0 ? lift(-1) : lift(1);
    const curve = cornerLift * Math.abs(f) ** 2 + 0.05 * p.mouthCurve * (1 - Math.abs(f));
    return { x: f * halfWidth, y: mouthY + curve + gap / 2 + thickness + gap * 0.3 * (1 - f * f) };
  };
  pts.push(
    left,
    upper(-0.6, 0.06),
    upper(-0.25, 0.08),
    upper(0, 0.07),
    upper(0.25, 0.08),
    upper(0.6, 0.06),
    right,
  );
  pts.push(
    lower(0.6, 0.07),
    lower(0.25, 0.09),
    lower(0, 0.1),
    lower(-0.25, 0.09),
    lower(-0.6, 0.07),
  );
  const innerLeft = { x: -halfWidth * 0.85, y: left.y };
  const innerRight = { x: halfWidth * 0.85, y: right.y };
  pts.push(
    innerLeft,
    upper(-0.35, 0),
    upper(0, 0),
    upper(0.35, 0),
    innerRight,
    lower(0.35, 0),
    lower(0, 0),
    lower(-0.35, 0),
  );
  return pts;
}

/** A similarity transform from the face frame to image pixels. */
export interface FacePose {
  cx: number;
  cy: number;
  /** Pixels per face unit (half the face width). */
  scale: number;
  /** Degrees, clockwise on screen. */
  rotation: number;
}

export function toImage(pose: FacePose, p: Point): Point {
  const a = (pose.rotation * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  return {
    x: pose.cx + pose.scale * (cos * p.x - sin * p.y),
    y: pose.cy + pose.scale * (sin * p.x + cos * p.y),
  };
}

/** Face units spanned by an AffectNet-style face box (square, forehead to chin). */
export const FACE_BOX_UNITS = 3.0;

/** The face box of a pose: a square of FACE_BOX_UNITS face units around the face centre. */
export function faceBox(pose: FacePose): FaceBox {
  const side = Math.round(FACE_BOX_UNITS * pose.scale);
  return {
    x: Math.round(pose.cx - side / 2),
    y: Math.round(pose.cy - side / 2 - 0.08 * pose.scale),
    width: side,
    height: side,
  };
}

const SKIN_TONES = [
  '#f6d7c3',
  '#eac1a2',
  '#d9a98a',
  '#c68d6b',
  '#a8714f',
  '#8d5a3b',
  '#6b4129',
  '#4e2f1f',
];
const HAIR_COLOURS = [
  '#1b1209',
  '#3b2414',
  '#6a4a2a',
  '#a47a45',
  '#d8c08a',
  '#7a7a7a',
  '#2b1b12',
  '#8c2f14',
];
const LIP_COLOURS = ['#b5535a', '#a0444c', '#8e4a4a', '#c06a6a', '#7d3b3f'];

/** #rrggbb of an RGB triple (clamped), so colours can be shaded again. */
function rgb(r: number, g: number, b: number): string {
  const byte = (v: number): string =>
    Math.round(clamp(v, 0, 255))
      .toString(16)
      .padStart(2, '0');
  return `#${byte(r)}${byte(g)}${byte(b)}`;
}

function randomColour(rng: Random, lo = 0, hi = 255): string {
  return rgb(rng.uniform(lo, hi), rng.uniform(lo, hi), rng.uniform(lo, hi));
}

/** Shift a #rrggbb colour's brightness by `delta` (-255..255). */
function shade(hex: string, delta: number): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return rgb(((n >> 16) & 255) + delta, ((n >> 8) & 255) + delta, (n & 255) + delta);
}

const f2 = (v: number): string => v.toFixed(3);

function polyline(points: Point[]): string {
  return points.map((p) => `${f2(p.x)},${f2(p.y)}`).join(' ');
}

function smoothClosedPath(points: Point[]): string {
  // quadratic curves through mid-points: a smooth closed outline from a polygon
  const n = points.length;
  const mid = (a: Point, b: Point): Point => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });
  const start = mid(points[n - 1], points[0]);
  let d = `M${f2(start.x)},${f2(start.y)}`;
  for (let i = 0; i < n; i++) {
    const m = mid(points[i], points[(i + 1) % n]);
    d += ` Q${f2(points[i].x)},${f2(points[i].y)} ${f2(m.x)},${f2(m.y)}`;
  }
  return `${d} Z`;
}

/** Random shapes behind (and, rarely, over) the subject: the "in the wild" background. */
function clutter(rng: Random, width: number, height: number, count: number): string {
  let svg = '';
  for (let i = 0; i < count; i++) {
    const colour = randomColour(rng, 20, 235);
    const opacity = rng.uniform(0.35, 1).toFixed(2);
    const x = rng.uniform(-0.1, 1.1) * width;
    const y = rng.uniform(-0.1, 1.1) * height;
    const size = rng.uniform(0.08, 0.45) * Math.min(width, height);
    switch (rng.int(4)) {
      case 0:
        svg += `<rect x="${f2(x - size / 2)}" y="${f2(y - size / 2)}" width="${f2(size)}" height="${f2(size * rng.uniform(0.3, 1.8))}" fill="${colour}" opacity="${opacity}" transform="rotate(${f2(rng.uniform(0, 90))} ${f2(x)} ${f2(y)})"/>`;
        break;
      case 1:
        svg += `<circle cx="${f2(x)}" cy="${f2(y)}" r="${f2(size / 2)}" fill="${colour}" opacity="${opacity}"/>`;
        break;
      case 2:
        svg += `<line x1="${f2(x)}" y1="${f2(y)}" x2="${f2(x + rng.uniform(-1, 1) * size * 2)}" y2="${f2(y + rng.uniform(-1, 1) * size * 2)}" stroke="${colour}" stroke-width="${f2(rng.uniform(1, 0.06 * width))}" opacity="${opacity}"/>`;
        break;
      default:
        svg += `<ellipse cx="${f2(x)}" cy="${f2(y)}" rx="${f2(size / 2)}" ry="${f2(size * rng.uniform(0.15, 0.6))}" fill="${colour}" opacity="${opacity}" transform="rotate(${f2(rng.uniform(0, 180))} ${f2(x)} ${f2(y)})"/>`;
    }
  }
  return svg;
}

function lighting(rng: Random, width: number, height: number): string {
  const angle = rng.uniform(0, 2 * Math.PI);
  const strength = rng.uniform(0, 0.45);
  const x1 = 0.5 + 0.5 * Math.cos(angle);
  const y1 = 0.5 + 0.5 * Math.sin(angle);
  const dark = rng.next() < 0.5 ? '#000' : '#202040';
  return (
    `<defs><linearGradient id="light" x1="${f2(x1)}" y1="${f2(y1)}" x2="${f2(1 - x1)}" y2="${f2(1 - y1)}">` +
    `<stop offset="0" stop-color="#fff" stop-opacity="${f2(strength * 0.6)}"/>` +
    `<stop offset="1" stop-color="${dark}" stop-opacity="${f2(strength)}"/></linearGradient></defs>` +
    `<rect width="${width}" height="${height}" fill="url(#light)"/>`
  );
}

/** SVG markup of one face in the canonical frame (to be wrapped in the pose transform). */
function faceMarkup(landmarks: Point[], p: ExpressionParams, rng: Random): string {
  const skin = SKIN_TONES[rng.int(SKIN_TONES.length)];
  const skinShade = shade(skin, rng.uniform(-25, 20));
  const line = shade(skin, -110);
  const hair = HAIR_COLOURS[rng.int(HAIR_COLOURS.length)];
  const lip = LIP_COLOURS[rng.int(LIP_COLOURS.length)];
  let svg = '';
  // hair behind the head, neck below it
  if (rng.next() < 0.85) {
    const volume = rng.uniform(1.05, 1.35);
    svg += `<ellipse cx="0" cy="${f2(-0.35 - rng.uniform(0, 0.15))}" rx="${f2(volume)}" ry="${f2(FACE_RY * rng.uniform(0.9, 1.15))}" fill="${hair}"/>`;
  }
  svg += `<rect x="-0.45" y="0.9" width="0.9" height="1.6" fill="${shade(skinShade, -20)}"/>`;
  svg += `<ellipse cx="-1" cy="-0.1" rx="0.14" ry="0.26" fill="${skinShade}"/><ellipse cx="1" cy="-0.1" rx="0.14" ry="0.26" fill="${skinShade}"/>`;
  svg += `<ellipse cx="0" cy="0" rx="1" ry="${FACE_RY}" fill="${skinShade}"/>`;
  // fringe of hair over the forehead, sometimes
  if (rng.next() < 0.4) {
    svg += `<path d="M-0.95,-0.55 Q0,${f2(-1.05 - rng.uniform(0, 0.25))} 0.95,-0.55 Q0,-1.45 -0.95,-0.55 Z" fill="${hair}"/>`;
  }
  const lm = (i: number, j: number): Point[] => landmarks.slice(i, j + 1);
  // brows
  const browWidth = f2(rng.uniform(0.06, 0.11));
  const browColour = rng.next() < 0.7 ? hair : line;
  svg += `<polyline points="${polyline(lm(17, 21))}" fill="none" stroke="${browColour}" stroke-width="${browWidth}" stroke-linecap="round"/>`;
  svg += `<polyline points="${polyline(lm(22, 26))}" fill="none" stroke="${browColour}" stroke-width="${browWidth}" stroke-linecap="round"/>`;
  if (p.browFurrow > 0.25) {
    const o = f2(Math.min(1, p.browFurrow));
    svg += `<path d="M-0.08,-0.5 L-0.06,-0.34 M0.08,-0.5 L0.06,-0.34" stroke="${line}" stroke-width="0.025" opacity="${o}"/>`;
  }
  // eyes: white, iris, lid line
  const iris = ['#3b2a1a', '#4a6b8a', '#5b7a3a', '#2a1a10'][rng.int(4)];
  const gazeX = rng.uniform(-0.05, 0.05);
  for (const [a, b] of [
    [36, 41],
    [42, 47],
  ]) {
    const eye = lm(a, b);
    const cx = (eye[0].x + eye[3].x) / 2;
    const cy = (eye[1].y + eye[4].y) / 2;
    const open = Math.max(0.01, eye[4].y - eye[1].y);
    svg += `<path d="${smoothClosedPath(eye)}" fill="#f4f1ec"/>`;
    svg += `<ellipse cx="${f2(cx + gazeX)}" cy="${f2(cy)}" rx="${f2(0.075)}" ry="${f2(Math.min(0.075, open * 0.55))}" fill="${iris}"/>`;
    svg += `<path d="${smoothClosedPath(eye)}" fill="none" stroke="${line}" stroke-width="0.03"/>`;
  }
  // nose
  svg += `<polyline points="${polyline(lm(27, 30))}" fill="none" stroke="${shade(skinShade, -45)}" stroke-width="0.035"/>`;
  svg += `<polyline points="${polyline(lm(31, 35))}" fill="none" stroke="${shade(skinShade, -60)}" stroke-width="0.04" stroke-linecap="round"/>`;
  if (p.noseWrinkle > 0.3) {
    const o = f2(Math.min(1, p.noseWrinkle));
    svg += `<path d="M-0.12,-0.1 Q0,-0.14 0.12,-0.1 M-0.1,-0.02 Q0,-0.06 0.1,-0.02" fill="none" stroke="${line}" stroke-width="0.022" opacity="${o}"/>`;
  }
  // mouth: lips, then the opening (dark, with teeth when shown)
  svg += `<path d="${smoothClosedPath(lm(48, 59))}" fill="${lip}"/>`;
  const inner = lm(60, 67);
  const opening = inner[6].y - inner[2].y;
  if (opening > 0.03) {
    svg += `<path d="${smoothClosedPath(inner)}" fill="#2a0d0d"/>`;
    if (p.teeth > 0.45) {
      const top = inner[2].y;
      const h = Math.min(opening * 0.45, 0.07);
      svg += `<rect x="${f2(inner[0].x * 0.8)}" y="${f2(top)}" width="${f2((inner[4].x - inner[0].x) * 0.8)}" height="${f2(h)}" fill="#f2efe6"/>`;
    }
  } else {
    svg += `<polyline points="${polyline([landmarks[48], ...lm(65, 67).reverse(), landmarks[54]])}" fill="none" stroke="${shade(lip, -70)}" stroke-width="0.03"/>`;
  }
  // glasses, sometimes
  if (rng.next() < 0.12) {
    const frame = rng.next() < 0.5 ? '#111' : '#6b4a2a';
    svg += `<g fill="none" stroke="${frame}" stroke-width="0.045"><circle cx="-0.4" cy="-0.24" r="0.26"/><circle cx="0.4" cy="-0.24" r="0.26"/><path d="M-0.14,-0.26 Q0,-0.32 0.14,-0.26"/></g>`;
  }
  return svg;
}

export interface DrawnImage {
  svg: string;
  box: FaceBox;
  landmarks: Point[];
  /** The valence and arousal the face shows (0, 0 for Non-Face, which shows none). */
  valence: number;
  arousal: number;
}

/** An occluder over part of the face: a hand-coloured blob, a bar, a cup... */
function occluder(pose: FacePose, rng: Random): string {
  const target = toImage(pose, { x: rng.uniform(-0.8, 0.8), y: rng.uniform(-0.3, 1.1) });
  const size = pose.scale * rng.uniform(0.35, 0.8);
  const colour =
    rng.next() < 0.5 ? SKIN_TONES[rng.int(SKIN_TONES.length)] : randomColour(rng, 30, 220);
  return rng.next() < 0.5
    ? `<ellipse cx="${f2(target.x)}" cy="${f2(target.y)}" rx="${f2(size)}" ry="${f2(size * rng.uniform(0.5, 1))}" fill="${colour}" transform="rotate(${f2(rng.uniform(0, 180))} ${f2(target.x)} ${f2(target.y)})"/>`
    : `<rect x="${f2(target.x - size)}" y="${f2(target.y - size / 3)}" width="${f2(size * 2)}" height="${f2(size * 0.66)}" fill="${colour}" transform="rotate(${f2(rng.uniform(-40, 40))} ${f2(target.x)} ${f2(target.y)})"/>`;
}

/** A random pose whose face box lies inside a width x height image. */
function samplePose(rng: Random, width: number, height: number): FacePose {
  const side = Math.min(width, height);
  const boxSide = side * rng.uniform(0.42, 0.78);
  const scale = boxSide / FACE_BOX_UNITS;
  const margin = boxSide / 2 + 0.1 * scale + 1;
  return {
    scale,
    cx: rng.uniform(margin, width - margin),
    cy: rng.uniform(margin, height - margin),
    rotation: clamp(rng.normal() * 9, -25, 25),
  };
}

/**
 * The SVG, face box and landmarks of one image. `code` 10 (Non-Face) draws clutter only; its box
 * and landmarks are those a detector might have produced on it, with no face under them.
 */
export function drawImage(code: number, width: number, height: number, rng: Random): DrawnImage {
  const background = randomColour(rng, 30, 225);
  let body = `<rect width="${width}" height="${height}" fill="${background}"/>`;
  body += clutter(rng, width, height, 3 + rng.int(9));
  const pose = samplePose(rng, width, height);
  const face: SampledExpression =
    code === 10 ? { params: NEUTRAL_PARAMS, valence: 0, arousal: 0 } : sampleExpression(code, rng);
  const { params } = face;
  const canonical = faceLandmarks(params);
  if (code === 10) {
    body += clutter(rng, width, height, 4 + rng.int(6));
  } else {
    const transform = `translate(${f2(pose.cx)} ${f2(pose.cy)}) rotate(${f2(pose.rotation)}) scale(${f2(pose.scale)})`;
    body += `<g transform="${transform}">${faceMarkup(canonical, params, rng)}</g>`;
    if (rng.next() < 0.15) body += occluder(pose, rng);
  }
  body += lighting(rng, width, height);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${body}</svg>`;
  const landmarks = canonical.map((p) => {
    const q = toImage(pose, p);
    return { x: clamp(q.x, 0, width - 1), y: clamp(q.y, 0, height - 1) };
  });
  return { svg, box: faceBox(pose), landmarks, valence: face.valence, arousal: face.arousal };
}
