/**
 * What a packet costs Temporal on the two-node server on Postgres, against the dev server, in one run: the
 * same packets (sent, every share opened, credited by the pumps, finished) through each, with the server
 * processes' CPU time read from /proc (both nodes summed; their idle cost over the same time taken off),
 * history events per packet and, on the cluster, Postgres transactions per packet in its history database.
 * The figures feed docs/temporal-cluster.md's sizing; the bounds below only catch a cost gone wild.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../config';
import { freePort, withDatabase } from '../../scripts/lib/isolation';
import { findTemporalCli, registerSearchAttributes, startDevServer } from '../../scripts/lib/temporalCli';
import { CLUSTER_PORT_BASES, startTemporalCluster } from '../../scripts/lib/temporalCluster';
import { findTemporalServer } from '../../scripts/lib/temporalServer';
import { Client } from 'pg';
import { expectAuditClean } from '../support/audit';
import { allCreditedWithin } from '../support/credits';
import { createHarness } from '../support/harness';
import { fund, historyLength, open, packetResult, send } from '../support/packets';

const PACKETS = 30;
const SHARES = 4;
const IDLE_MS = 5_000;
/** Linux reports utime and stime in clock ticks, 100 a second on every common kernel. */
const TICKS_PER_SECOND = 100;

function cpuMsOf(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    // The command name (field 2) may hold spaces; the fields counted from the closing parenthesis do not.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

async function commitsOf(url: string, database: string): Promise<number> {
  const client = new Client({ connectionString: withDatabase(url, 'postgres') });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      'SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = $1',
      [database],
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

interface Cost {
  cpuMsPerPacket: number;
  eventsPerPacket: number;
  commitsPerPacket?: number;
  packetsPerSecond: number;
}

/** Idle first (timers, membership, shard upkeep), then the packets; the idle rate over the busy time is taken off. */
async function measure(address: string, pids: number[], commits?: () => Promise<number>): Promise<Cost> {
  const h = await createHarness({ TEMPORAL_ADDRESS: address });
  try {
    await h.startWorker();
    const sender = `cost-${randomBytes(2).toString('hex')}`;
    await fund(h, sender, PACKETS * 400);
    const idleCpu = cpuMsOf(pids);
    const idleCommits = await commits?.();
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const idleCpuPerMs = (cpuMsOf(pids) - idleCpu) / IDLE_MS;
    const idleCommitsPerMs = commits ? ((await commits()) - idleCommits!) / IDLE_MS : 0;

    const startedMs = Date.now();
    const cpuBefore = cpuMsOf(pids);
    const commitsBefore = await commits?.();
    const packetIds: string[] = [];
    for (let i = 0; i < PACKETS; i++) {
      const { packetId } = await send(h, sender, { type: 'fixed', amountFen: 400, count: SHARES });
      for (let share = 0; share < SHARES; share++) await open(h, packetId, `cost-r${share}`);
      packetIds.push(packetId);
    }
    await allCreditedWithin(h, packetIds, 60_000);
    for (const packetId of packetIds) await packetResult(h, packetId);
    const busyMs = Date.now() - startedMs;
    const cpuMs = cpuMsOf(pids) - cpuBefore - idleCpuPerMs * busyMs;
    // Postgres publishes its counters about once a second.
    if (commits) await new Promise((resolve) => setTimeout(resolve, 1_500));
    const commitCount = commits
      ? (await commits()) - commitsBefore! - idleCommitsPerMs * (busyMs + 1_500)
      : 0;
    let events = 0;
    for (const packetId of packetIds) events += await historyLength(h, packetId);
    await expectAuditClean(h.db);
    return {
      cpuMsPerPacket: cpuMs / PACKETS,
      eventsPerPacket: events / PACKETS,
      ...(commits ? { commitsPerPacket: commitCount / PACKETS } : {}),
      packetsPerSecond: (PACKETS * 1000) / busyMs,
    };
  } finally {
    await h.close();
  }
}

const describeCost = (cost: Cost) =>
  `${cost.cpuMsPerPacket.toFixed(1)} ms server CPU, ${cost.eventsPerPacket.toFixed(1)} events` +
  (cost.commitsPerPacket === undefined ? '' : `, ${cost.commitsPerPacket.toFixed(1)} Postgres commits`) +
  ` per packet (${cost.packetsPerSecond.toFixed(1)} packets/s, one at a time)`;

test('a packet on two nodes on Postgres against the dev server', async () => {
  const config = loadConfig({ NODE_ENV: 'test' });
  const cli = await findTemporalCli(config.temporal.cliPath);
  const databaseName = `tcluster_c${randomBytes(3).toString('hex')}`;
  const cluster = await startTemporalCluster({
    binaries: findTemporalServer(),
    cliPath: cli,
    postgresUrl: config.database.url,
    databaseName,
    portBase: CLUSTER_PORT_BASES.cost,
    dir: `/tmp/tcluster-cost-${databaseName}`,
    namespaces: [config.temporal.namespace],
    log: () => undefined,
    throwaway: true,
  });
  let onCluster: Cost;
  try {
    registerSearchAttributes(cli, cluster.address, config.temporal.namespace);
    const pids = cluster.nodes.map((node) => node.child!.pid!);
    onCluster = await measure(cluster.address, pids, () => commitsOf(config.database.url, databaseName));
  } finally {
    await cluster.destroy();
  }
  const dev = await startDevServer({
    cliPath: cli,
    port: await freePort(),
    namespace: config.temporal.namespace,
  });
  let onDev: Cost;
  try {
    registerSearchAttributes(cli, dev.address, config.temporal.namespace);
    onDev = await measure(dev.address, [dev.child.pid!]);
  } finally {
    await dev.stop();
  }
  process.stdout.write(
    `Temporal per packet (${PACKETS} packets of ${SHARES} shares, sent, opened, credited, finished):\n` +
      `  two nodes on Postgres: ${describeCost(onCluster)}\n` +
      `  dev server (SQLite in memory): ${describeCost(onDev)}\n`,
  );
  // A packet's history is about 25 events on any server (docs/saga.md "History budget").
  expect(onCluster.eventsPerPacket).toBeLessThan(40);
  expect(onCluster.eventsPerPacket).toBeCloseTo(onDev.eventsPerPacket, 0);
  expect(onCluster.cpuMsPerPacket).toBeGreaterThan(0);
  expect(onCluster.cpuMsPerPacket).toBeLessThan(500);
}, 300_000);
