/**
 * Finds the Temporal CLI (which carries the dev server): downloading the pinned release into a cache outside
 * the repository when nothing else is available, or building it there with `go install` where the download
 * host cannot be reached; and runs the dev server with it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, openSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../saga';
import { downloadTemporalCli } from './temporalDownload';

export const TEMPORAL_CLI_VERSION = '1.5.1';
const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

/** Where the project caches what it builds outside the repository (~/.cache/redpacket/<parts>). */
export function redpacketCacheDir(...parts: string[]): string {
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'redpacket', ...parts);
}

export function temporalCacheDir(): string {
  return redpacketCacheDir('temporal', TEMPORAL_CLI_VERSION);
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, binary))) return join(dir, binary);
  }
  return undefined;
}

export class TemporalCliMissing extends Error {
  override readonly name = 'TemporalCliMissing';
}

/**
 * TEMPORAL_CLI, then `temporal` on PATH, then the cache: filled by downloading the pinned release (checksum
 * checked) or, where that fails, by `go install` (about five minutes the first time on a 2-core machine).
 */
export async function findTemporalCli(
  explicitPath: string | undefined,
  log: (line: string) => void = console.error,
): Promise<string> {
  if (explicitPath) {
    if (!isExecutable(explicitPath))
      throw new TemporalCliMissing(`TEMPORAL_CLI=${explicitPath} is not an executable file`);
    return explicitPath;
  }
  const fromPath = onPath('temporal');
  if (fromPath) return fromPath;
  const cached = join(temporalCacheDir(), 'temporal');
  if (isExecutable(cached)) return cached;

  log(`downloading Temporal CLI ${TEMPORAL_CLI_VERSION} into ${dirname(cached)} (one time)...`);
  const download = await downloadTemporalCli({ version: TEMPORAL_CLI_VERSION, dest: cached, log });
  if (download.ok && isExecutable(cached)) return cached;
  if (!download.ok) log(`${download.reason}; building it with Go instead`);

  const go = onPath('go');
  if (!go) {
    throw new TemporalCliMissing(
      `Temporal CLI not found, its download failed and Go is not installed: install Go (>= 1.22) so it can ` +
        `be built, or install the Temporal CLI (https://docs.temporal.io/cli) and put it on PATH or set ` +
        `TEMPORAL_CLI=/path/to/temporal.`,
    );
  }
  log(`building Temporal CLI ${TEMPORAL_CLI_VERSION} into ${dirname(cached)} (one time, a few minutes)...`);
  mkdirSync(dirname(cached), { recursive: true });
  const build = spawnSync(
    go,
    [
      'install',
      '-ldflags',
      `-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`,
      `${TEMPORAL_CLI_MODULE}@v${TEMPORAL_CLI_VERSION}`,
    ],
    { env: { ...process.env, GOBIN: dirname(cached) }, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (build.status !== 0 || !isExecutable(cached)) {
    throw new TemporalCliMissing(`go install of the Temporal CLI failed (exit ${build.status ?? 'signal'})`);
  }
  return cached;
}

export interface DevServerOptions {
  cliPath: string;
  port: number;
  uiPort?: number;
  /** SQLite file for durable state; omitted means in memory. */
  dbFile?: string;
  namespace: string;
  logFile?: string;
}

export interface DevServer {
  address: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--namespace',
    options.namespace,
    '--log-level',
    'warn',
  ];
  if (options.uiPort) args.push('--ui-port', String(options.uiPort));
  else args.push('--headless');
  if (options.dbFile) {
    mkdirSync(dirname(options.dbFile), { recursive: true });
    // WAL lets the UI and the server read while the history service writes.
    args.push('--db-filename', options.dbFile, '--sqlite-pragma', 'journal_mode=wal');
  }
  const out = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(options.cliPath, args, { stdio: ['ignore', out, out], detached: false });
  const address = `127.0.0.1:${options.port}`;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await waitForTemporal(address, 60_000, exited);
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, child, stop };
}

/** Polls until the frontend answers, failing early if the server process exits. */
export async function waitForTemporal(
  address: string,
  timeoutMs: number,
  exited?: Promise<number | null>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let processExit: number | null | undefined;
  void exited?.then((code) => (processExit = code));
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (processExit !== undefined)
      throw new Error(`Temporal dev server exited with code ${processExit} before it was ready`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  throw new Error(`Temporal at ${address} not ready after ${timeoutMs} ms`, { cause: lastError });
}

/**
 * Registers the custom search attributes. `search-attribute create` is idempotent, and it is the only way that
 * works on an existing SQLite file (the dev server ignores --search-attribute flags there).
 */
export function registerSearchAttributes(cliPath: string, address: string, namespace: string): void {
  const args = ['operator', 'search-attribute', 'create', '--address', address, '--namespace', namespace];
  for (const attribute of SEARCH_ATTRIBUTES) args.push('--name', attribute.name, '--type', attribute.cliType);
  const result = spawnSync(cliPath, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`registering search attributes failed: ${(result.stderr || result.stdout).trim()}`);
  }
}

/**
 * Creates a namespace on a dev server unless it exists (multi-cell dev mode: one namespace per cell, e.g.
 * `rp-n`). The dev server registers only the namespace of its --namespace flag; the others come here.
 */
export function ensureNamespace(cliPath: string, address: string, namespace: string): void {
  const args = ['operator', 'namespace', 'create', '--address', address, '--namespace', namespace];
  const result = spawnSync(cliPath, args, { encoding: 'utf8' });
  const output = (result.stderr || result.stdout).trim();
  if (result.status !== 0 && !/already (exists|registered)/i.test(output)) {
    throw new Error(`creating namespace ${namespace} failed: ${output}`);
  }
}
