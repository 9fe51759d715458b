/**
 * A long-running child (etcd, Patroni) with its output in a log file, stopped by its own pid: the tests and
 * the chaos harness start several at once, and every one of them must be ended by whoever started it,
 * never by a name pattern that could hit another helper's processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export interface ManagedProcess {
  child: ChildProcess;
  logFile: string;
  /** True until the process has exited. */
  running(): boolean;
  /** Resolves when the process has exited (at once if it already has). */
  exited: Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this user and group (Postgres refuses to run as root, so Patroni runs as `postgres`). */
  uid?: number;
  gid?: number;
}

export function spawnManaged(
  command: string,
  args: string[],
  logFile: string,
  options: SpawnOptions = {},
): ManagedProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, {
    stdio: ['ignore', fd, fd],
    env: options.env ?? process.env,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
  });
  closeSync(fd);
  let done = false;
  const exited = new Promise<void>((resolve) => {
    const finish = () => {
      done = true;
      resolve();
    };
    child.once('exit', finish);
    // A command that cannot start emits only 'error'.
    child.once('error', finish);
  });
  const tail = (lines = 20) => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  return {
    child,
    logFile,
    running: () => !done,
    exited,
    tail,
    async stop(graceMs = 15_000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Thrown by a waitFor check when waiting longer cannot help (the process it waits for has exited). */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

/**
 * Polls `check` until it returns a value (not undefined) or `timeoutMs` passes; then throws `what`. A check
 * that throws is asked again, unless it throws GiveUp.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** GET a local JSON endpoint with a short timeout: its status and body (parsed when it is JSON). */
export async function getJson<T>(url: string, timeoutMs = 1_000): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body: body as T };
}
