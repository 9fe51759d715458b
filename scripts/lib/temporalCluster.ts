/**
 * A production Temporal server on this machine: `temporal-server` 1.29.1 (the server the pinned CLI embeds,
 * scripts/lib/temporalServer.ts) on a Postgres database of its own, as TWO nodes that each run every service
 * and join one membership ring through that database. Clients reach node 0's frontend (`address`); either
 * node can die and the other takes over its history shards and task-queue partitions. Used by
 * `npm run dev -- --temporal cluster`, the cluster test run (jest.cluster.config.js) and the node-kill test.
 * docs/temporal-cluster.md says how it is laid out and how to size a real one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { Client } from 'pg';
import { withDatabase } from './isolation';
import { ensureNamespace, waitForTemporal } from './temporalCli';
import { CLUSTER_DYNAMIC_CONFIG, nodeConfigYaml, nodePorts, type NodePorts } from './temporalClusterConfig';
import {
  clusterDatabases,
  dropClusterDatabases,
  prepareClusterDatabases,
  sqlStoreOf,
  type ClusterDatabases,
} from './temporalClusterSchema';
import type { TemporalServerBinaries } from './temporalServer';

/**
 * History shards of the local cluster. Fixed when its database is created and never changeable after.
 * Eight: each node owns about four, so killing one moves real shards, while start-up (every shard is
 * acquired and its queues loaded) stays a few seconds on two shared cores. A real deployment sizes this
 * from its peak (docs/temporal-cluster.md), e.g. 512 in docker-compose.yml.
 */
export const LOCAL_HISTORY_SHARDS = 8;
/**
 * Each user of a local cluster gets its own ten-port-per-node block, so a dev cluster, a test run and the
 * node-kill and cost tests, the chaos world and the bench's `tcluster` phase can run at once (7300-7419).
 */
export const CLUSTER_PORT_BASES = {
  dev: 7300,
  testRun: 7320,
  nodeKill: 7340,
  cost: 7360,
  chaos: 7380,
  bench: 7400,
} as const;
const NODE_COUNT = 2;
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 10_000;

export interface ClusterOptions {
  binaries: TemporalServerBinaries;
  cliPath: string;
  /** Any URL on the Postgres server to use (the service's DATABASE_URL does). */
  postgresUrl: string;
  /** The history database's name; visibility is `<name>_visibility`. */
  databaseName: string;
  /** Node i listens on portBase + 10 i .. + 8 (scripts/lib/temporalClusterConfig.ts nodePorts). */
  portBase: number;
  /** Config files and one log per node. */
  dir: string;
  namespaces: string[];
  numHistoryShards?: number;
  logLevel?: string;
  log?: (line: string) => void;
  /** A cluster for one test: when start-up fails, its databases and directory go too (destroy() otherwise). */
  throwaway?: boolean;
}

export interface ClusterNode {
  index: number;
  ports: NodePorts;
  address: string;
  logFile: string;
  child: ChildProcess | undefined;
}

export interface TemporalCluster {
  /** Node 0's frontend: what the service's TEMPORAL_ADDRESS points at. */
  address: string;
  nodes: ClusterNode[];
  databases: ClusterDatabases;
  /** SIGKILL, as a crashed host: no shard is handed over politely. */
  killNode(index: number): Promise<void>;
  startNode(index: number): Promise<void>;
  /** Resolves once every running node's history service is a live member of the ring. */
  waitForRing(timeoutMs?: number): Promise<void>;
  /** The history shards each node owns now, by node index (from the `shards` table). */
  shardsByNode(): Promise<number[][]>;
  stop(): Promise<void>;
  /** stop(), drop both databases and remove the config and log directory: for throwaway clusters (tests). */
  destroy(): Promise<void>;
}

function running(child: ChildProcess | undefined): child is ChildProcess {
  return !!child && child.exitCode === null && child.signalCode === null;
}

async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!running(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * The history services the ring holds as live: each node heartbeats a row into `cluster_membership` (role 2
 * is history), which is also how a joining node finds its seeds.
 */
async function liveHistoryPorts(postgresUrl: string, database: string): Promise<number[]> {
  const client = new Client({ connectionString: withDatabase(postgresUrl, database) });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ port: number }>(
      `SELECT DISTINCT rpc_port AS port FROM cluster_membership
        WHERE role = 2 AND record_expiry > now() AND last_heartbeat > now() - interval '20 seconds'`,
    );
    return rows.map((row) => Number(row.port));
  } finally {
    await client.end();
  }
}

/**
 * Each shard's row carries its owner, the history service's identity `<address>:<port>-<uuid>...`, inside its
 * serialized info; the owner's port says which node it is.
 */
async function shardsOwnedBy(
  postgresUrl: string,
  database: string,
  historyPorts: number[],
): Promise<number[][]> {
  const client = new Client({ connectionString: withDatabase(postgresUrl, database) });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const owned: number[][] = [];
    for (const port of historyPorts) {
      const { rows } = await client.query<{ shard: number }>(
        `SELECT shard_id AS shard FROM shards WHERE position(convert_to($1, 'UTF8') IN data) > 0 ORDER BY 1`,
        [`127.0.0.1:${port}-`],
      );
      owned.push(rows.map((row) => Number(row.shard)));
    }
    return owned;
  } finally {
    await client.end();
  }
}

export async function startTemporalCluster(options: ClusterOptions): Promise<TemporalCluster> {
  const log = options.log ?? ((line: string) => console.error(`[temporal cluster] ${line}`));
  const databases = clusterDatabases(options.postgresUrl, options.databaseName);
  const shards = options.numHistoryShards ?? LOCAL_HISTORY_SHARDS;
  const isNew = await prepareClusterDatabases(options.binaries.sqlTool, databases, log);
  if (!isNew) log(`reusing ${databases.history}: its shard count was fixed when it was created`);

  mkdirSync(options.dir, { recursive: true });
  const dynamicConfigFile = join(options.dir, 'dynamicconfig.yaml');
  writeFileSync(dynamicConfigFile, CLUSTER_DYNAMIC_CONFIG);
  const store = sqlStoreOf(options.postgresUrl);
  const nodes: ClusterNode[] = [];
  for (let index = 0; index < NODE_COUNT; index++) {
    const ports = nodePorts(options.portBase, index);
    const root = join(options.dir, `node${index}`);
    mkdirSync(join(root, 'config'), { recursive: true });
    writeFileSync(
      join(root, 'config', 'development.yaml'),
      nodeConfigYaml({
        store,
        database: databases.history,
        visibilityDatabase: databases.visibility,
        numHistoryShards: shards,
        ports,
        clusterFrontend: `127.0.0.1:${nodePorts(options.portBase, 0).frontend}`,
        dynamicConfigFile,
        logLevel: options.logLevel ?? 'warn',
      }),
    );
    nodes.push({
      index,
      ports,
      address: `127.0.0.1:${ports.frontend}`,
      logFile: join(options.dir, `node${index}.log`),
      child: undefined,
    });
  }

  const launch = (node: ClusterNode): Promise<number | null> => {
    const out = openSync(node.logFile, 'a');
    const root = join(options.dir, `node${node.index}`);
    const args = ['--root', root, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'];
    node.child = spawn(options.binaries.server, args, { stdio: ['ignore', out, out] });
    return new Promise((resolve) => node.child!.once('exit', (code) => resolve(code)));
  };
  const startNode = async (index: number) => {
    const node = nodes[index]!;
    if (running(node.child)) return;
    const exited = launch(node);
    try {
      await waitForTemporal(node.address, READY_TIMEOUT_MS, exited);
    } catch (err) {
      // The last lines say why (a database it cannot reach, a port in use); the log may be removed next.
      const tail = readFileSync(node.logFile, 'utf8').trim().split('\n').slice(-3).join('\n');
      throw new Error(`Temporal node ${index} did not start (${node.logFile}):\n${tail}`, { cause: err });
    }
  };
  const waitForRing = async (timeoutMs = READY_TIMEOUT_MS) => {
    const deadline = Date.now() + timeoutMs;
    const wanted = nodes.filter((node) => running(node.child)).map((node) => node.ports.historyMembership);
    let live: number[] = [];
    while (Date.now() < deadline) {
      live = await liveHistoryPorts(options.postgresUrl, databases.history).catch(() => []);
      if (wanted.every((port) => live.includes(port))) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`ring not formed: live history members ${live.join(',')}, wanted ${wanted.join(',')}`);
  };
  const stop = async () => {
    await Promise.all(nodes.map((node) => stopChild(node.child, 'SIGTERM')));
  };

  try {
    // Node 0 first: on a new database it writes the cluster metadata (the shard count) the other reads.
    await startNode(0);
    await startNode(1);
    await waitForRing();
    const address = nodes[0]!.address;
    for (const namespace of options.namespaces) ensureNamespace(options.cliPath, address, namespace);
    for (const node of nodes) await waitForNamespaces(node.address, options.namespaces);
    log(`${NODE_COUNT} nodes up (${nodes.map((n) => n.address).join(', ')}), ${shards} history shards`);
  } catch (err) {
    await stop();
    if (options.throwaway) {
      await dropClusterDatabases(databases).catch(() => undefined);
      rmSync(options.dir, { recursive: true, force: true });
    }
    throw err;
  }

  return {
    address: nodes[0]!.address,
    nodes,
    databases,
    killNode: (index) => stopChild(nodes[index]!.child, 'SIGKILL'),
    startNode,
    waitForRing,
    shardsByNode: () =>
      shardsOwnedBy(
        options.postgresUrl,
        databases.history,
        nodes.map((node) => node.ports.history),
      ),
    stop,
    async destroy() {
      await stop();
      await dropClusterDatabases(databases);
      rmSync(options.dir, { recursive: true, force: true });
    },
  };
}

/**
 * A namespace is written to the database at once but each frontend learns it from its namespace cache,
 * refreshed every few seconds: waits until every frontend describes it, so the first workflow start finds it.
 */
async function waitForNamespaces(address: string, namespaces: string[]): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (const namespace of namespaces) {
      for (;;) {
        try {
          await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 });
          break;
        } catch (err) {
          if (Date.now() > deadline)
            throw new Error(`namespace ${namespace} not served by ${address}`, { cause: err });
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
    }
  } finally {
    await connection.close();
  }
}
