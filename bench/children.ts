/**
 * Child processes of the bench: the service's own API and worker (`node dist/<entry>.js`, the production
 * build, configured only through the environment) and the bench's reference servers (TypeScript, through
 * `--import tsx`). Each gets an IPC channel that the
 * PARENT_WATCH preload uses to stop the child if the bench dies, so no child outlives its run. Output is
 * kept (bounded) and shown when a child fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ENV_VARIABLES } from '../config';

export const ROOT = resolve(__dirname, '..');
/**
 * Preloaded into every child (`--import`): when the bench's IPC channel closes (the bench exited, even by
 * SIGKILL), the child stops itself with SIGTERM and runs its own graceful shutdown. The channel is
 * unreferenced so it never keeps a finished child alive. A data: URL of plain JavaScript because preloads
 * also run in worker threads (Temporal's workflow threads), where TypeScript files cannot load yet.
 */
const PARENT_WATCH =
  'data:text/javascript,' +
  encodeURIComponent(
    "import { isMainThread } from 'node:worker_threads';" +
      'if (isMainThread && process.send) {' +
      '  process.channel?.unref();' +
      "  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));" +
      '}',
  );
const OUTPUT_KEPT_CHARS = 8_000;
const STOP_GRACE_MS = 15_000;

export interface Child {
  name: string;
  process: ChildProcess;
  pid: number;
  /** The last few thousand characters the child wrote. */
  output(): string;
  exited(): boolean;
  /** Resolves with the first IPC message that satisfies `accept`, or rejects when the child exits first. */
  message<T>(accept: (message: unknown) => message is T, timeoutMs: number): Promise<T>;
  stop(): Promise<void>;
}

export interface ChildSpec {
  name: string;
  entry: string;
  args?: string[];
  env: Record<string, string>;
  nodeArgs?: string[];
  /**
   * The config module's variables come from `env` alone: none is inherited from the bench's own environment,
   * so a LOG_LEVEL the user exported cannot change what the service runs with.
   */
  configFromEnvOnly?: boolean;
}

function inheritedEnv(configFromEnvOnly: boolean | undefined): NodeJS.ProcessEnv {
  if (!configFromEnvOnly) return process.env;
  const env = { ...process.env };
  for (const name of ENV_VARIABLES) delete env[name];
  return env;
}

export function startChild(spec: ChildSpec): Child {
  // Compiled JavaScript runs on plain node; only TypeScript entries need the tsx loader.
  const loader = spec.entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(
    process.execPath,
    [...(spec.nodeArgs ?? []), ...loader, '--import', PARENT_WATCH, spec.entry, ...(spec.args ?? [])],
    {
      cwd: ROOT,
      env: { ...inheritedEnv(spec.configFromEnvOnly), ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  if (child.pid === undefined) throw new Error(`${spec.name} did not start`);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exit = new Promise<void>((done) => child.once('exit', () => done()));
  const exited = () => child.exitCode !== null || child.signalCode !== null;

  return {
    name: spec.name,
    process: child,
    pid: child.pid,
    output: () => output,
    exited,
    message<T>(accept: (message: unknown) => message is T, timeoutMs: number) {
      return new Promise<T>((resolveMessage, reject) => {
        const timer = setTimeout(
          () => finish(new Error(`${spec.name} sent nothing within ${timeoutMs} ms`)),
          timeoutMs,
        );
        const onMessage = (message: unknown) => {
          if (accept(message)) finish(undefined, message);
        };
        const onExit = () =>
          finish(new Error(`${spec.name} exited (${child.exitCode ?? child.signalCode})\n${output}`));
        function finish(err: Error | undefined, message?: T) {
          clearTimeout(timer);
          child.off('message', onMessage);
          child.off('exit', onExit);
          if (err) reject(err);
          else resolveMessage(message as T);
        }
        child.on('message', onMessage);
        child.once('exit', onExit);
      });
    },
    async stop() {
      if (exited()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exit;
      clearTimeout(timer);
    },
  };
}
