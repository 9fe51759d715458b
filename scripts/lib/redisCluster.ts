/**
 * A real Redis Cluster on this machine, for tests and the chaos harness: three masters and three replicas,
 * each a `redis-server --cluster-enabled yes` of its own, joined by `redis-cli --cluster create
 * --cluster-replicas 1`. Nothing here imitates Redis Cluster: failover is the servers' own (a replica is
 * promoted when its master stops answering for the node timeout, or on CLUSTER FAILOVER).
 *
 * Nodes listen on loopback ports from `basePort` (each with its cluster bus at port + 10000), keep their
 * files under `dir` and persist nothing (no RDB, no AOF): a killed master's data lives on in its replica
 * only, as it would in production with persistence off.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface ClusterNode {
  port: number;
  child: ChildProcess;
}

export interface RedisClusterProcess {
  nodes: ClusterNode[];
  /** `redis+cluster://127.0.0.1:<p1>,...`, as REDIS_URL takes it. */
  url: string;
  /** How long start took, from the first spawn to a cluster whose nodes all say `cluster_state:ok`. */
  startMs: number;
  /** Ports of the current masters, as the cluster says now. */
  masters(): Promise<number[]>;
  /** Kills the node on `port` with SIGKILL (no goodbye to the cluster, as a crashed machine). */
  kill(port: number): Promise<void>;
  /**
   * Starts a killed node again on its own files: it keeps its node id (nodes.conf), so it rejoins, as a
   * replica when its replica was promoted meanwhile, and resyncs (it persisted nothing else).
   */
  restart(port: number): Promise<void>;
  /**
   * Waits until every live node says `cluster_state:ok`, every live replica's link is up and three live
   * masters serve the slots.
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** First of six consecutive ports (and their bus ports, +10000). */
  basePort: number;
  /** Working directory; removed by stop(). */
  dir: string;
  /**
   * Milliseconds a master may be unreachable before the others mark it failed and its replica takes over.
   * Redis' default is 15 s; tests use 1 s so a failover takes about two.
   */
  nodeTimeoutMs?: number;
}

const NODE_COUNT = 6;
const BUS_PORT_OFFSET = 10_000;

/**
 * One redis-cli call, asynchronously: the test files that kill a node serve their API from the same process,
 * and a synchronous call while polling would stall its event loop (and inflate the latencies measured).
 */
function redisCli(args: string[], timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

const cli = (port: number, ...args: string[]) => redisCli(['-h', '127.0.0.1', '-p', String(port), ...args]);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // Not answering yet: asked again below.
    }
    if (Date.now() > deadline) throw new Error(`Redis Cluster: timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The first block of six ports from `from` (below `to`) whose ports and bus ports are all free. */
export async function freePortBlock(from: number, to: number): Promise<number> {
  for (let base = from; base + NODE_COUNT <= to; base += NODE_COUNT) {
    let free = true;
    for (let i = 0; i < NODE_COUNT && free; i++)
      free = (await portFree(base + i)) && (await portFree(base + i + BUS_PORT_OFFSET));
    if (free) return base;
  }
  throw new Error(`no six free ports between ${from} and ${to}`);
}

function startNode(port: number, dir: string, nodeTimeoutMs: number): ClusterNode {
  const nodeDir = join(dir, String(port));
  mkdirSync(nodeDir, { recursive: true });
  // prettier-ignore
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir,
    '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
    '--cluster-node-timeout', String(nodeTimeoutMs),
    // The rest of the cluster keeps serving its slots while one master's slots wait for their replica.
    '--cluster-require-full-coverage', 'no',
    '--save', '', '--appendonly', 'no', '--daemonize', 'no',
    // A replica's first sync starts at once instead of after Redis' default 5 s wait for more replicas.
    '--repl-diskless-sync-delay', '0',
    '--logfile', join(nodeDir, 'redis.log'),
  ], { stdio: 'ignore' });
  return { port, child };
}

/** A master, or a replica whose link to its master is up (so it can take over). */
async function replicaSynced(port: number): Promise<boolean> {
  const info = await cli(port, 'INFO', 'replication');
  return info.includes('role:master') || info.includes('master_link_status:up');
}

const clusterOk = async (port: number) => (await cli(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok');

/** `check` holds on every port, asked of all at once. */
const onEvery = async (ports: number[], check: (port: number) => Promise<boolean>) =>
  (await Promise.all(ports.map(check))).every(Boolean);

/** `CLUSTER NODES` as the node on `port` sees it: live masters and replicas with their ports. */
async function nodesSeenBy(port: number): Promise<{ port: number; master: boolean; failed: boolean }[]> {
  return (await cli(port, 'CLUSTER', 'NODES'))
    .trim()
    .split('\n')
    .map((line) => {
      const [, address = '', flags = ''] = line.split(' ');
      return {
        port: Number(address.split('@')[0]?.split(':')[1]),
        master: flags.split(',').includes('master'),
        failed: /fail/.test(flags),
      };
    });
}

export async function startRedisCluster(options: ClusterOptions): Promise<RedisClusterProcess> {
  const startedAtMs = Date.now();
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1_000;
  rmSync(options.dir, { recursive: true, force: true });
  mkdirSync(options.dir, { recursive: true });
  const ports = Array.from({ length: NODE_COUNT }, (_, i) => options.basePort + i);
  const nodes = ports.map((port) => startNode(port, options.dir, nodeTimeoutMs));
  const alive = new Set(ports);
  // A process that ends without stop() (an uncaught error, process.exit) takes its nodes with it rather than
  // leaving six servers on the project's ports; a SIGKILLed one still leaves them, to be killed by port.
  const killOnExit = () => {
    for (const node of nodes) node.child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    await Promise.all(
      nodes.map(async (node) => {
        if (node.child.exitCode !== null || node.child.signalCode !== null) return;
        const exited = new Promise((resolve) => node.child.once('exit', resolve));
        node.child.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(options.dir, { recursive: true, force: true });
  };

  try {
    await until('every node to answer', 10_000, () =>
      onEvery(ports, async (port) => (await cli(port, 'PING')).includes('PONG')),
    );
    const nodeList = ports.map((port) => `127.0.0.1:${port}`);
    await redisCli(['--cluster', 'create', ...nodeList, '--cluster-replicas', '1', '--cluster-yes'], 30_000);
    await until('cluster_state:ok on every node', 15_000, () => onEvery(ports, clusterOk));
    // A replica promoted before its first sync would take over empty slots: wait for every link.
    await until('every replica in sync', 15_000, () => onEvery(ports, replicaSynced));
  } catch (err) {
    await stop();
    throw err;
  }

  const anyLive = () => [...alive][0] as number;
  return {
    nodes,
    url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    startMs: Date.now() - startedAtMs,
    masters: async () =>
      (await nodesSeenBy(anyLive()))
        .filter((node) => node.master && !node.failed && alive.has(node.port))
        .map((node) => node.port),
    async kill(port) {
      const node = nodes.find((candidate) => candidate.port === port);
      if (!node) throw new Error(`no cluster node on port ${port}`);
      alive.delete(port);
      if (node.child.exitCode !== null || node.child.signalCode !== null) return;
      const exited = new Promise((resolve) => node.child.once('exit', resolve));
      node.child.kill('SIGKILL');
      await exited;
    },
    async restart(port) {
      const index = nodes.findIndex((candidate) => candidate.port === port);
      if (index < 0) throw new Error(`no cluster node on port ${port}`);
      nodes[index] = startNode(port, options.dir, nodeTimeoutMs);
      alive.add(port);
      await until(`node ${port} to rejoin`, 15_000, () => clusterOk(port));
    },
    async waitHealthy(timeoutMs = 15_000) {
      await until('a healthy cluster', timeoutMs, async () => {
        const live = [...alive];
        if (!(await onEvery(live, async (port) => (await clusterOk(port)) && (await replicaSynced(port)))))
          return false;
        const masters = (await nodesSeenBy(anyLive())).filter((node) => node.master && !node.failed);
        return masters.length === 3 && masters.every((node) => alive.has(node.port));
      });
    },
    stop,
  };
}
