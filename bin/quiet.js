// Keeping TensorFlow's C++ log lines off a user's terminal.
//
// libtensorflow 2.18 logs some notices through absl (`WARNING: All log messages before
// absl::InitializeLog() is called are written to STDERR`, then `I0000 00:00:... ] MLIR V1
// optimization pass is not enabled` when the first graph runs). TF_CPP_MIN_LOG_LEVEL does not
// reach absl's logger, and absl's own switch is hidden inside libtensorflow, so the only way to
// keep them out is to read the process's stderr. Node cannot redirect its own fd 2, so on a
// terminal the command runs in a child process whose stderr comes through a line filter here.
//
// Only on a terminal: pipes, CI logs and launchers (which signal and kill the process by pid)
// run the command in this process, exactly as before. The child is told that stderr is a
// terminal (AFFECTLAB_STDERR_TTY), so progress bars still redraw. Ctrl-C reaches the child
// directly (same process group); SIGTERM and SIGHUP sent to this process are passed on.
import { spawn } from 'node:child_process';

/** Commands that never load TensorFlow: nothing to filter, no second process. */
const NO_TENSORFLOW = new Set([
  'validate',
  'config',
  'plugins',
  'schema',
  'compare',
  'metrics',
  'sync',
  'synth',
  'help',
]);

/**
 * absl's notice; absl's INFO and WARNING lines (`I0000 00:00:1796650473.448505 8916 file.cc:401]
 * ...`, the time as seconds before absl is initialised); the CUDA build's `Unable to register
 * cuDNN factory` errors, which every pip TensorFlow prints too.
 */
const TF_LINE =
  /^(?:WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR|[IW]\d{4} \d{2}:\d{2}:\d+\.\d+\s+\d+ [\w.-]+:\d+\] .*|E\d{4} \d{2}:\d{2}:\d+\.\d+\s+\d+ [\w.-]+:\d+\] Unable to register cu\w+ factory.*)$/;
/** What the start of such a line looks like, to hold a partial line until it is complete. */
const TF_LINE_START =
  /^(?:W(?:A(?:R(?:N(?:I(?:N(?:G(?::.*)?)?)?)?)?)?)?|[IWE]\d[\d :.]*(?:[\w.-]+(?::\d*(?:\].*)?)?)?)$/;

/** True when this command should run in a child process behind the stderr filter. */
export function quietTensorFlow(args, verbose) {
  if (verbose || process.env.AFFECTLAB_STDERR_TTY !== undefined) return false;
  if (!process.stderr.isTTY) return false;
  const command = args.find((a) => !a.startsWith('-'));
  if (command === undefined || NO_TENSORFLOW.has(command)) return false;
  return !args.includes('--help') && !args.includes('-h');
}

/** A stream transform: whole lines that TensorFlow's absl logger wrote are dropped. */
export function createTfLineFilter(write) {
  let held = '';
  let timer;
  const flushHeld = () => {
    timer = undefined;
    if (held) write(held);
    held = '';
  };
  return {
    push(chunk) {
      if (timer) clearTimeout(timer);
      const text = held + chunk;
      held = '';
      const lines = text.split('\n');
      const last = lines.pop() ?? '';
      let out = '';
      for (const line of lines) if (!TF_LINE.test(line)) out += line + '\n';
      if (last && TF_LINE_START.test(last)) {
        held = last;
        // a prompt-like partial line that never completes is shown after a moment
        timer = setTimeout(flushHeld, 100);
        timer.unref();
      } else out += last;
      if (out) write(out);
    },
    end() {
      if (timer) clearTimeout(timer);
      if (held && !TF_LINE.test(held)) write(held);
      held = '';
    },
  };
}

/** Run bin/affectlab.js again in a child with a filtered stderr; resolves to its exit code. */
export function runFiltered(binFile, args) {
  return new Promise((resolveCode) => {
    const child = spawn(process.execPath, [...process.execArgv, binFile, ...args], {
      stdio: ['inherit', 'inherit', 'pipe'],
      env: { ...process.env, AFFECTLAB_STDERR_TTY: '1' },
    });
    const filter = createTfLineFilter((text) => process.stderr.write(text));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => filter.push(chunk));
    // the terminal sends Ctrl-C to both processes; the child handles it (a second one too)
    const ignore = () => {};
    const forward = (signal) => child.kill(signal);
    process.on('SIGINT', ignore);
    process.on('SIGTERM', forward);
    process.on('SIGHUP', forward);
    child.on('error', (error) => {
      process.stderr.write(`affectlab: could not start: ${error.message}\n`);
      resolveCode(1);
    });
    child.on('close', (code, signal) => {
      filter.end();
      process.off('SIGINT', ignore);
      process.off('SIGTERM', forward);
      process.off('SIGHUP', forward);
      const signals = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129, SIGKILL: 137 };
      resolveCode(code ?? signals[signal] ?? 1);
    });
  });
}
