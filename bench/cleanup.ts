/**
 * Everything the bench makes registers how to remove it here, and the steps run in reverse order exactly
 * once: at the end of a run, on failure, on Ctrl-C, or on an error nothing caught. A step that fails or
 * hangs is reported and skipped so the rest (above all dropping the database and stopping processes) still
 * happens. A step added while cleanup runs (a child that finished starting late) is run as well.
 */
import { log } from './progress';

const STEP_TIMEOUT_MS = 30_000;

interface Step {
  name: string;
  run: () => Promise<void>;
}

async function runStep(step: Step): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      step.run(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
      }),
    ]);
  } catch (err) {
    log(`cleanup: ${step.name} failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

export class Cleanup {
  /** Set on Ctrl-C or SIGTERM: the run's figures are incomplete and are not written as results. */
  interrupted = false;
  private readonly steps: Step[] = [];
  private running: Promise<void> | undefined;
  private finished = false;

  add(name: string, run: () => Promise<void>): void {
    if (this.finished) void runStep({ name, run });
    else this.steps.push({ name, run });
  }

  runAll(): Promise<void> {
    this.running ??= (async () => {
      for (let step = this.steps.pop(); step; step = this.steps.pop()) await runStep(step);
      this.finished = true;
    })();
    return this.running;
  }
}

/**
 * Ctrl-C or SIGTERM: clean up, then exit 130. Further Ctrl-Cs while cleaning say so instead of leaving
 * processes and a database behind; the third one gives up and exits at once. An error that escaped every
 * handler also cleans up before the process ends.
 */
export function cleanupOnSignals(cleanup: Cleanup): void {
  let received = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    received++;
    cleanup.interrupted = true;
    if (received === 1) {
      log(`${signal}: stopping and cleaning up (Ctrl-C twice more to abandon cleanup)`);
      void cleanup.runAll().finally(() => process.exit(130));
    } else if (received === 2) {
      log('still cleaning up: stopping processes and dropping the bench database');
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const onFatal = (err: unknown) => {
    log(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    void cleanup.runAll().finally(() => process.exit(1));
  };
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);
}
