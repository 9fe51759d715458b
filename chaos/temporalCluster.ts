/**
 * `npm run chaos -- --temporal cluster`: the chaos world's Temporal as the two-node server on Postgres
 * (scripts/lib/temporalCluster.ts) instead of the dev server. Components for the faults: the whole server
 * (`temporal-kill` and `temporal-pause` hit both nodes at once, as with the dev server) and single nodes
 * (`temporal-node-kill`: SIGKILL, as a crashed host; its shards and partitions move to the other node until it
 * rejoins). Where HAProxy is installed the world reaches Temporal through it over both frontends
 * (scripts/lib/temporalFrontDoor.ts) and either node may be killed (the fault's drawn index picks which);
 * otherwise the world uses node 0's frontend and only node 1 is killed. Its databases live on the machine's
 * Postgres, not the world's private one, so `postgres-crash` stays a fault of the service's database only.
 */
import { log } from '../bench/progress';
import type { Cleanup } from '../bench/cleanup';
import { loadConfig } from '../config';
import { findTemporalCli, registerSearchAttributes } from '../scripts/lib/temporalCli';
import {
  CLUSTER_PORT_BASES,
  startTemporalCluster,
  type TemporalCluster,
} from '../scripts/lib/temporalCluster';
import { findHaproxy } from '../scripts/lib/haproxy';
import { startFrontDoor } from '../scripts/lib/temporalFrontDoor';
import { findTemporalServer } from '../scripts/lib/temporalServer';
import type { Component } from './components';

function signalAll(pids: (number | undefined)[], name: 'SIGSTOP' | 'SIGCONT'): void {
  for (const pid of pids) {
    if (pid === undefined) continue;
    try {
      process.kill(pid, name);
    } catch {
      // Already gone: a kill raced the pause, and the restart brings a fresh process.
    }
  }
}

/** Both nodes, as one server. */
export class ClusterComponent implements Component {
  readonly name = 'temporal';
  /** `address`: what the world's clients use, the front door or node 0's frontend. */
  constructor(
    private readonly cluster: TemporalCluster,
    readonly address: string,
  ) {}

  pid(): number | undefined {
    return this.cluster.nodes[0]?.child?.pid;
  }

  async kill(): Promise<void> {
    this.resume();
    await Promise.all(this.cluster.nodes.map((node) => this.cluster.killNode(node.index)));
  }

  async start(): Promise<void> {
    for (const node of this.cluster.nodes) await this.cluster.startNode(node.index);
    await this.cluster.waitForRing();
  }

  pause(): void {
    signalAll(
      this.cluster.nodes.map((node) => node.child?.pid),
      'SIGSTOP',
    );
  }

  resume(): void {
    signalAll(
      this.cluster.nodes.map((node) => node.child?.pid),
      'SIGCONT',
    );
  }

  async stop(): Promise<void> {
    this.resume();
    await this.cluster.stop();
  }
}

/** One node: what `temporal-node-kill` kills and starts again. */
export class ClusterNodeComponent implements Component {
  readonly name: string;
  constructor(
    private readonly cluster: TemporalCluster,
    private readonly index: number,
  ) {
    this.name = `temporal-node${index}`;
  }

  pid(): number | undefined {
    return this.cluster.nodes[this.index]?.child?.pid;
  }

  async kill(): Promise<void> {
    this.resume();
    await this.cluster.killNode(this.index);
  }

  async start(): Promise<void> {
    await this.cluster.startNode(this.index);
    await this.cluster.waitForRing();
  }

  pause(): void {
    signalAll([this.pid()], 'SIGSTOP');
  }

  resume(): void {
    signalAll([this.pid()], 'SIGCONT');
  }

  async stop(): Promise<void> {
    this.resume();
    await this.cluster.killNode(this.index);
  }
}

export async function startChaosCluster(
  runId: string,
  cleanup: Cleanup,
): Promise<{ server: ClusterComponent; nodes: ClusterNodeComponent[] }> {
  const config = loadConfig();
  const cli = await findTemporalCli(config.temporal.cliPath, log);
  const dir = `/tmp/tcluster-chaos-${runId}`;
  const cluster = await startTemporalCluster({
    binaries: findTemporalServer(log),
    cliPath: cli,
    postgresUrl: config.database.url,
    databaseName: `tcluster_chaos_${runId}`,
    portBase: CLUSTER_PORT_BASES.chaos,
    dir,
    namespaces: ['default'],
    log,
    throwaway: true,
  });
  cleanup.add('stop the Temporal cluster and drop its databases', () => cluster.destroy());
  registerSearchAttributes(cli, cluster.address, 'default');
  const haproxy = findHaproxy();
  let address = cluster.address;
  if (haproxy) {
    const frontends = cluster.nodes.map((node) => node.ports.frontend);
    // The node block's spare port (nodePorts uses base .. base + 8 for node 0).
    const door = await startFrontDoor(haproxy, CLUSTER_PORT_BASES.chaos + 9, frontends, `${dir}/haproxy.cfg`);
    cleanup.add('stop the Temporal front door', () => door.stop());
    address = door.address;
  }
  log(
    `Temporal: two nodes (${cluster.nodes.map((node) => node.address).join(', ')}) on ` +
      `${cluster.databases.history}, reached ${haproxy ? `through HAProxy at ${address}` : `at node 0 (no HAProxy)`}`,
  );
  // Without the front door the world's clients use node 0, so only node 1 may die.
  const killable = haproxy ? [0, 1] : [1];
  return {
    server: new ClusterComponent(cluster, address),
    nodes: killable.map((index) => new ClusterNodeComponent(cluster, index)),
  };
}
