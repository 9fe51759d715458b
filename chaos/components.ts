/**
 * The parts of the chaos world a fault can hit, behind one shape: kill (SIGKILL or crash), start again,
 * pause (SIGSTOP) and resume (SIGCONT). The API and workers are the production build run by the bench's
 * child helper; the Temporal dev server restarts on the same SQLite file and port.
 */
import type { ChildProcess } from 'node:child_process';
import { startChild, type Child, type ChildSpec } from '../bench/children';
import { sleep } from '../bench/progress';
import { startDevServer, type DevServer, type DevServerOptions } from '../scripts/lib/temporalCli';

/** A restarted API may take this long to listen again on a loaded 2-core machine. */
const API_UP_TIMEOUT_MS = 120_000;

export interface Component {
  name: string;
  pid(): number | undefined;
  kill(): Promise<void>;
  start(): Promise<void>;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGCONT'); // a paused process must run to die of SIGKILL promptly and report its exit
  child.kill('SIGKILL');
  await exited;
}

function signal(pid: number | undefined, name: 'SIGSTOP' | 'SIGCONT'): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, name);
  } catch {
    // Already gone: a kill raced the pause, and the restart will bring a fresh process.
  }
}

/** How long a supervisor keeps restarting a process that exits while starting (its dependency is down). */
const START_RETRY_MS = 120_000;
const START_RETRY_DELAY_MS = 1_000;
/** Output kept per unexpected exit in the report: the last lines say why. */
const EXIT_OUTPUT_CHARS = 600;

/**
 * A node child (the API or a worker) that can be killed and started again with the same spec. It acts as a
 * supervisor (systemd, Kubernetes) would: a process that exits on its own, at start (the API migrates at
 * start, so it exits while Postgres is down) or later, is started again and the exit is noted for the report.
 */
export class NodeComponent implements Component {
  /** Exits nobody asked for, with the end of the process's output. */
  readonly unexpectedExits: string[] = [];
  private child: Child | undefined;
  private killing = false;

  constructor(
    readonly name: string,
    private readonly spec: ChildSpec,
    private readonly waitUp: (child: Child) => Promise<void>,
  ) {}

  pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const deadline = Date.now() + START_RETRY_MS;
    for (;;) {
      const child = startChild(this.spec);
      this.child = child;
      try {
        await this.waitUp(child);
        this.watch(child);
        return;
      } catch (err) {
        if (!child.exited() || Date.now() > deadline) throw err;
        this.noteExit(child, 'while starting');
        await sleep(START_RETRY_DELAY_MS);
      }
    }
  }

  private noteExit(child: Child, when: string): void {
    const code = child.process.exitCode ?? child.process.signalCode;
    const output = child.output().trim().slice(-EXIT_OUTPUT_CHARS).replace(/\s+/g, ' ');
    this.unexpectedExits.push(`${this.name} exited (${code}) ${when}: ${output}`);
  }

  private watch(child: Child): void {
    child.process.once('exit', () => {
      if (this.killing || this.child !== child) return;
      this.noteExit(child, 'while running');
      this.start().catch((err: unknown) => {
        this.unexpectedExits.push(`${this.name} could not be restarted: ${String(err)}`);
      });
    });
  }

  async kill(): Promise<void> {
    if (!this.child) return;
    this.killing = true;
    try {
      await killAndWait(this.child.process);
    } finally {
      this.killing = false;
    }
  }

  pause(): void {
    signal(this.child?.pid, 'SIGSTOP');
  }

  resume(): void {
    signal(this.child?.pid, 'SIGCONT');
  }

  async stop(): Promise<void> {
    this.killing = true;
    this.resume();
    await this.child?.stop();
  }
}

/** Waits until the API answers /healthz (not /readyz: a dependency may be down on purpose). */
export function apiListening(url: string) {
  return async (child: Child): Promise<void> => {
    const deadline = Date.now() + API_UP_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exited()) throw new Error(`the API exited while starting:\n${child.output()}`);
      try {
        if ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) })).ok) return;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    throw new Error(`the API at ${url} did not answer /healthz within ${API_UP_TIMEOUT_MS} ms`);
  };
}

export class TemporalComponent implements Component {
  readonly name = 'temporal';
  private server: DevServer | undefined;

  constructor(private readonly options: DevServerOptions) {}

  get address(): string {
    return `127.0.0.1:${this.options.port}`;
  }

  pid(): number | undefined {
    return this.server?.child.pid;
  }

  /** Same port, same SQLite file: what was durable before the kill must be there after it. */
  async start(): Promise<void> {
    this.server = await startDevServer(this.options);
  }

  async kill(): Promise<void> {
    if (this.server) await killAndWait(this.server.child);
  }

  pause(): void {
    signal(this.pid(), 'SIGSTOP');
  }

  resume(): void {
    signal(this.pid(), 'SIGCONT');
  }

  async stop(): Promise<void> {
    this.resume();
    await this.server?.stop();
  }
}
