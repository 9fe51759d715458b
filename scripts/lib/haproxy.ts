/**
 * HAProxy in front of a cell's API processes (docs/cells.md "Sticky routing"): requests for one packet
 * stick to one process by a consistent hash of the packet id, the rest are spread round robin. The config
 * is generated from scripts/haproxy.cfg.template. HAProxy is a system package (Debian: `haproxy`, 2.6 or
 * later for `balance hash`); nothing installs it behind the user's back.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const HAPROXY_TEMPLATE = join(__dirname, '..', 'haproxy.cfg.template');
export const HAPROXY_INSTALL_HINT = 'apt-get install -y haproxy   (as root; HAProxy 2.6 or later)';
/** How often HAProxy asks each API process's /healthz: a process that stops is out within a few seconds. */
const CHECK_INTERVAL_MS = 1_000;

export interface CellEntry {
  /** The port HAProxy listens on: the cell's entry URL. */
  entryPort: number;
  /** The ports of the cell's API processes on 127.0.0.1. */
  apiPorts: number[];
}

export function haproxyConfig(entry: CellEntry): string {
  const servers = entry.apiPorts
    .map((port, index) => `  server api${index + 1} 127.0.0.1:${port} check inter ${CHECK_INTERVAL_MS}`)
    .join('\n');
  return readFileSync(HAPROXY_TEMPLATE, 'utf8')
    .replaceAll('{{ENTRY_PORT}}', String(entry.entryPort))
    .replaceAll('{{SERVERS}}', servers);
}

/** The haproxy binary when it is installed and runs, else undefined. */
export function findHaproxy(): string | undefined {
  const result = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
  return result.status === 0 ? 'haproxy' : undefined;
}

export interface RunningHaproxy {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Writes the config to `configFile`, checks it, and runs HAProxy in the foreground as a child. */
export function startHaproxy(binary: string, entry: CellEntry, configFile: string): RunningHaproxy {
  return runHaproxy(binary, haproxyConfig(entry), configFile);
}

/** Any HAProxy config (the API entry above, or a cell's Postgres front in pgHaproxy.ts), run as a child. */
export function runHaproxy(binary: string, config: string, configFile: string): RunningHaproxy {
  writeFileSync(configFile, config);
  const check = spawnSync(binary, ['-c', '-q', '-f', configFile], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy refused ${configFile}: ${check.stderr || check.stdout}`);
  // -db: stay in the foreground, so the parent owns the process and its exit.
  const child = spawn(binary, ['-db', '-f', configFile], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
