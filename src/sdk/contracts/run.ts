/** Plugins that observe and drive a run: reporters, launchers, training callbacks. */
import type { PluginRef } from './plugin.js';

// ---- reporter --------------------------------------------------------------------------------

export interface RunInfo {
  runId: string;
  experiment: string;
  runDir: string;
  sourceFile: string;
  resolvedConfig: Record<string, unknown>;
  params: Record<string, unknown>;
  backend: { name: string; devices: string[] };
  dataset: Record<string, unknown>;
  group?: string;
  startTime: number;
}

export interface EpochMetrics {
  epoch: number;
  metrics: Record<string, number>;
  timestamp: number;
}

export interface ArtifactInfo {
  /** Path relative to the run directory. */
  path: string;
  absolutePath: string;
}

export type RunStatus = 'FINISHED' | 'FAILED' | 'KILLED';

/** A sweep as its reporters see it (the parent of its combinations' runs). */
export interface SweepInfo {
  sweepId: string;
  experiment: string;
  sweepDir: string;
  sourceFile: string;
  mode: string;
  parameters: Record<string, unknown>;
  launcher: PluginRef;
  combinations: { index: number; overrides: string[]; runId: string }[];
  startTime: number;
}

export interface SweepEnd {
  status: RunStatus;
  finished: number;
  failed: number;
  best?: { runId: string; overrides: string[]; metric: string; value: number };
}

/** Observer of run events. Every method is optional; a failing reporter never stops a run. */
/** Where an event was recorded: its line (0-based) in events.jsonl and the event as written. */
export interface EventRecord {
  line: number;
  event: RunEvent;
}

/**
 * Reporters hear of events from a background queue (never inside the training loop); `record`
 * is the event's line in events.jsonl, so a reporter need not read the file to know it.
 */
export interface ReporterPlugin {
  /**
   * Before the run starts (before its directory exists): a reporter that cannot do its work
   * the way it is configured throws a UserError here, and the run does not start.
   */
  preflight?(run: { experiment: string }): Promise<void> | void;
  /**
   * A sweep starts (in the process that launches it): returns tags every combination's run
   * gets (e.g. its parent run's id).
   */
  sweepStarted?(
    sweep: SweepInfo,
  ): Promise<Record<string, string> | void> | Record<string, string> | void;
  sweepEnded?(sweep: SweepInfo, end: SweepEnd): Promise<void> | void;
  runStarted?(run: RunInfo, record?: EventRecord): Promise<void> | void;
  epochEnded?(run: RunInfo, epoch: EpochMetrics, record?: EventRecord): Promise<void> | void;
  evaluated?(
    run: RunInfo,
    metrics: Record<string, number>,
    step: number,
    record?: EventRecord,
  ): Promise<void> | void;
  artifact?(run: RunInfo, artifact: ArtifactInfo, record?: EventRecord): Promise<void> | void;
  runEnded?(
    run: RunInfo,
    status: RunStatus,
    error?: string,
    record?: EventRecord,
  ): Promise<void> | void;
}

/**
 * One line of a run's `events.jsonl` in the local run store: every reporter event in order,
 * so a reporter that missed events (a server that was down) can replay them later.
 */
export type RunEvent =
  | { event: 'runStarted'; time: number; run: RunInfo }
  | { event: 'epochEnded'; time: number; epoch: EpochMetrics }
  | { event: 'evaluated'; time: number; metrics: Record<string, number>; step: number }
  | { event: 'artifact'; time: number; artifact: ArtifactInfo }
  | { event: 'runEnded'; time: number; status: RunStatus; error?: string };

// ---- launcher --------------------------------------------------------------------------------

/** One combination of a sweep, as a launcher runs it: a plain `affectlab run` command line. */
export interface LaunchTask {
  /** Position in the sweep (0-based), stable across resumes. */
  index: number;
  /** The command: argv[0] is the executable (node), the rest its arguments. */
  argv: string[];
  /** Working directory of the command. */
  cwd: string;
  /** The run directory the command writes (its run.json tells how it ended). */
  runDir: string;
  /** Where the launcher sends the command's stdout and stderr. */
  logFile: string;
  /** A short label for progress lines (`sampler.type=weighted`). */
  label: string;
}

export interface LaunchContext {
  sweepId: string;
  /** The sweep's directory in the run store (scripts, logs, sweep.json). */
  sweepDir: string;
  /** Set on Ctrl-C/SIGTERM: a launcher cancels what it submitted and returns. */
  stopSignal: { stop: boolean; reason?: string };
  log(line: string): void;
}

/** How one task ended as far as the launcher knows; the run's run.json has the final word. */
export interface LaunchOutcome {
  index: number;
  /** Exit code of the command, when the launcher learns it. */
  exitCode?: number;
  /** The engine's own state word (Slurm's COMPLETED/FAILED, Ray's SUCCEEDED/FAILED...). */
  state: string;
  /** The engine's id of the task: pid, Slurm array task, Ray submission id. */
  engineId?: string;
}

/**
 * Runs the combinations of a sweep: child processes here, a Slurm array job, Ray jobs. A
 * failing task never stops the others; the promise resolves once every task ended or the stop
 * signal cancelled them.
 */
export interface LauncherPlugin {
  launch(tasks: LaunchTask[], context: LaunchContext): Promise<LaunchOutcome[]>;
}

// ---- training callbacks ---------------------------------------------------------------------

/** What a callback learns when training (re)starts. */
export interface TrainBeginInfo {
  epochs: number;
  /** The optimizer's configured learning rate. */
  baseLearningRate: number;
  /** The first epoch this process trains (0, or later when resuming). */
  startEpoch: number;
}

/** One completed epoch as callbacks see it. */
export interface EpochEndInfo {
  epoch: number;
  epochs: number;
  /** Training and validation metrics of the epoch (`loss`, `val_loss`, `val_accuracy`, ...). */
  metrics: Record<string, number>;
  /** The learning rate the epoch trained with. */
  learningRate: number;
}

/** What a callback may ask of the training loop at an epoch's end. */
export interface TrainingControl {
  /** Stop training after this epoch; `reason` is logged. */
  stopTraining(reason: string): void;
  /** The learning rate of the next epoch (a later callback's wins). */
  setLearningRate(learningRate: number): void;
  /** The learning rate the next epoch gets so far (after earlier callbacks). */
  readonly learningRate: number;
  /** Keep this epoch's checkpoint as checkpoints/best (the model the final evaluation scores). */
  keepAsBest(): void;
}

/** What a callback may do before the first epoch: set its learning rate. */
export type TrainBeginControl = Pick<TrainingControl, 'learningRate' | 'setLearningRate'>;

/**
 * A reaction to the training loop (Keras callbacks, Lightning's Callback). Hooks are optional;
 * `getState`/`setState` carry what the callback remembers (best value, wait counter) through
 * checkpoints, so a resumed run decides as the uninterrupted one would have.
 */
export interface TrainingCallback {
  /**
   * `control` may set the learning rate of the run's first epoch (a warm-up); it is used only
   * when the run starts from epoch 0 (a resumed run keeps its checkpoint's rate).
   */
  onTrainBegin?(info: TrainBeginInfo, control: TrainBeginControl): void;
  onEpochEnd?(epoch: EpochEndInfo, control: TrainingControl): void;
  onTrainEnd?(info: { lastEpoch: number; status: RunStatus }): void;
  /** Plain JSON data. */
  getState?(): unknown;
  setState?(state: unknown): void;
}
