/**
 * One address for the Temporal cluster's frontends, as a deployment puts a load balancer in front of them:
 * HAProxy in TCP mode (gRPC's HTTP/2 passes through untouched) over every node's frontend, checking each
 * every half second. A client whose node dies loses its connection, reconnects, and lands on a live frontend;
 * without it, clients of node 0 (TemporalCluster.address) would have nowhere to go when node 0 dies.
 * HAProxy is the system package the cells' entry uses (scripts/lib/haproxy.ts); nothing installs it here.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';

/** Long enough for a worker's long poll (about a minute) to wait on an idle connection. */
const IDLE_TIMEOUT = '5m';

export function frontDoorConfig(port: number, frontendPorts: number[]): string {
  const servers = frontendPorts
    .map((frontend, index) => `  server node${index} 127.0.0.1:${frontend} check inter 500 fall 2 rise 2`)
    .join('\n');
  return `# Written by scripts/lib/temporalFrontDoor.ts.
global
  maxconn 2048

defaults
  mode tcp
  timeout connect 1s
  timeout client ${IDLE_TIMEOUT}
  timeout server ${IDLE_TIMEOUT}

frontend temporal
  bind 127.0.0.1:${port}
  default_backend frontends

backend frontends
  balance roundrobin
  # Connections to a node that fails its check are cut at once, so their clients reconnect elsewhere.
  default-server on-marked-down shutdown-sessions
${servers}
`;
}

export interface FrontDoor {
  address: string;
  stop(): Promise<void>;
}

async function listening(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`the Temporal front door did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startFrontDoor(
  haproxy: string,
  port: number,
  frontendPorts: number[],
  configFile: string,
): Promise<FrontDoor> {
  writeFileSync(configFile, frontDoorConfig(port, frontendPorts));
  const check = spawnSync(haproxy, ['-c', '-q', '-f', configFile], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy refused ${configFile}: ${check.stderr || check.stdout}`);
  // -db: in the foreground, so this process owns it and its exit.
  const child = spawn(haproxy, ['-db', '-f', configFile], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await listening(port, 10_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { address: `127.0.0.1:${port}`, stop };
}
