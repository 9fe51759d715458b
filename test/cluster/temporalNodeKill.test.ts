/**
 * A Temporal node killed under load (issue 29): a two-node Temporal server on Postgres of its own, sends and
 * opens running, a node killed with SIGKILL as a crashed host would die. Its history shards and task-queue
 * partitions move to the other node, so every packet sent (retried by its Idempotency-Key, as a client retries
 * an error) is paid once, every opened share is credited exactly once by pumps whose workflows may have lived on
 * the dead node's shards, and the money audit is clean. The node then rejoins and takes shards back.
 *
 * First node 1 dies. Then, where HAProxy is installed, node 0 dies too: the clients and the worker reach the
 * cluster through HAProxy over both frontends (scripts/lib/temporalFrontDoor.ts), so they lose the frontend
 * they were using and must carry on through the other. Without HAProxy every client uses node 0's frontend and
 * that second case is skipped.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../config';
import { walletAccount } from '../../domain/accounts';
import { findHaproxy } from '../../scripts/lib/haproxy';
import { findTemporalCli, registerSearchAttributes } from '../../scripts/lib/temporalCli';
import {
  CLUSTER_PORT_BASES,
  startTemporalCluster,
  type TemporalCluster,
} from '../../scripts/lib/temporalCluster';
import { startFrontDoor, type FrontDoor } from '../../scripts/lib/temporalFrontDoor';
import { findTemporalServer } from '../../scripts/lib/temporalServer';
import { expectAuditClean } from '../support/audit';
import { allCreditedWithin, creditsPerClaim, eventually } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { fund, open, packetResult, send } from '../support/packets';

const SHARES = 4;
const PACKET_FEN = 400;
/** Sends and opens go on this long; the node dies KILL_AFTER_MS into it. */
const LOAD_MS = 20_000;
const KILL_AFTER_MS = 5_000;
const LOAD_LOOPS = 2;
/** Shards move once ringpop declares the dead node faulty (seconds); credits then catch up. */
const SETTLE_MS = 90_000;
/** The node block's one spare port (nodePorts uses base .. base + 8 for node 0). */
const FRONT_DOOR_PORT = CLUSTER_PORT_BASES.nodeKill + 9;

const haproxy = findHaproxy();
const withFrontDoor = haproxy ? test : test.skip;
if (!haproxy)
  console.warn(
    'temporalNodeKill: haproxy is not installed, node 0 kill skipped (apt-get install -y haproxy)',
  );

describe('a Temporal node killed under load', () => {
  let cluster: TemporalCluster | undefined;
  let frontDoor: FrontDoor | undefined;
  let h: Harness | undefined;

  beforeAll(async () => {
    const config = loadConfig({ NODE_ENV: 'test' });
    const id = randomBytes(3).toString('hex');
    const cli = await findTemporalCli(config.temporal.cliPath);
    const dir = `/tmp/tcluster-kill-${id}`;
    cluster = await startTemporalCluster({
      binaries: findTemporalServer(),
      cliPath: cli,
      postgresUrl: config.database.url,
      databaseName: `tcluster_k${id}`,
      portBase: CLUSTER_PORT_BASES.nodeKill,
      dir,
      namespaces: [config.temporal.namespace],
      log: () => undefined,
      throwaway: true,
    });
    registerSearchAttributes(cli, cluster.address, config.temporal.namespace);
    const frontends = cluster.nodes.map((node) => node.ports.frontend);
    if (haproxy) frontDoor = await startFrontDoor(haproxy, FRONT_DOOR_PORT, frontends, `${dir}/haproxy.cfg`);
    h = await createHarness({ TEMPORAL_ADDRESS: frontDoor?.address ?? cluster.address, CREDIT_SHARDS: '4' });
    await h.startWorker();
  }, 180_000);

  afterAll(async () => {
    await h?.close();
    await frontDoor?.stop();
    await cluster?.destroy();
  }, 60_000);

  /** Sends until it succeeds under one Idempotency-Key, as a client does after an error or a timeout. */
  async function sendRetrying(sender: string, key: string, stats: { retries: number }): Promise<string> {
    for (;;) {
      try {
        const sent = await send(
          h!,
          sender,
          { type: 'fixed', amountFen: PACKET_FEN, count: SHARES },
          { idempotencyKey: key },
        );
        return sent.packetId;
      } catch {
        stats.retries++;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  /** The history shards `node` owns once the ring has settled (it hands a joining node some soon after). */
  function shardsOf(node: number): Promise<number[]> {
    return eventually(
      async () => {
        const owned = (await cluster!.shardsByNode())[node]!;
        return owned.length > 0 ? owned : undefined;
      },
      30_000,
      `node ${node} to own history shards`,
      250,
    );
  }

  async function killUnderLoad(victim: number): Promise<void> {
    const survivor = 1 - victim;
    const ownedByVictim = await shardsOf(victim);
    const tag = `k${victim}${randomBytes(2).toString('hex')}`;
    const sender = `${tag}-sender`;
    const recipients = Array.from({ length: SHARES }, (_, share) => `${tag}-r${share}`);
    await fund(h!, sender, 1_000 * PACKET_FEN);
    const packetIds: string[] = [];
    const stats = { retries: 0 };
    const started = Date.now();
    let killedAt = 0;
    let firstSendAfterKillMs: number | undefined;
    const killer = setTimeout(() => {
      killedAt = Date.now();
      void cluster!.killNode(victim);
    }, KILL_AFTER_MS);

    await Promise.all(
      Array.from({ length: LOAD_LOOPS }, async (_, loop) => {
        for (let n = 0; Date.now() - started < LOAD_MS; n++) {
          const packetId = await sendRetrying(sender, `${tag}-${loop}-${n}`, stats);
          if (killedAt && firstSendAfterKillMs === undefined) firstSendAfterKillMs = Date.now() - killedAt;
          packetIds.push(packetId);
          for (const recipient of recipients) await open(h!, packetId, recipient);
        }
      }),
    );
    clearTimeout(killer);
    expect(killedAt).toBeGreaterThan(0);

    await allCreditedWithin(h!, packetIds, SETTLE_MS);
    const creditedAllMs = Date.now() - killedAt;
    // The dead node's shards now belong to the survivor: the workflows on them went on there.
    const afterKill = await cluster!.shardsByNode();
    expect(afterKill[victim]).toEqual([]);
    expect(afterKill[survivor]).toEqual(expect.arrayContaining(ownedByVictim));
    const perClaim = await creditsPerClaim(h!, packetIds);
    expect(perClaim.size).toBe(packetIds.length * SHARES);
    expect([...perClaim.values()].filter((n) => n !== 1)).toEqual([]);
    for (const packetId of packetIds) {
      await expect(packetResult(h!, packetId)).resolves.toMatchObject({
        creditedCount: SHARES,
        refundFen: 0,
      });
    }
    const { rows } = await h!.db.query<{ fen: string }>(
      'SELECT coalesce(sum(balance_fen), 0)::text AS fen FROM accounts WHERE id = ANY($1::text[])',
      [recipients.map(walletAccount)],
    );
    expect(Number(rows[0]?.fen)).toBe(packetIds.length * PACKET_FEN);
    await expectAuditClean(h!.db, { temporal: h!.temporal.client });
    process.stdout.write(
      `node ${victim} (shards ${ownedByVictim.join(', ')}, then node ${survivor}'s) killed ${KILL_AFTER_MS} ms ` +
        `into ${LOAD_MS} ms of load${frontDoor ? ', clients through HAProxy' : ''}: ${packetIds.length} packets, ` +
        `${stats.retries} send retries, first send after the kill in ${firstSendAfterKillMs ?? '-'} ms, ` +
        `every claim credited ${creditedAllMs} ms after the kill\n`,
    );

    // The node rejoins: the ring has both history members again, it takes shards back, and a packet sent now
    // is paid and credited.
    await cluster!.startNode(victim);
    await cluster!.waitForRing();
    await shardsOf(victim);
    const after = await sendRetrying(sender, `${tag}-after-rejoin`, stats);
    for (const recipient of recipients) await open(h!, after, recipient);
    await allCreditedWithin(h!, [after], 30_000);
    await expectAuditClean(h!.db);
  }

  test('node 1 dies: workflows continue on node 0, every open is credited once, the pumps resume', async () => {
    await killUnderLoad(1);
  }, 300_000);

  withFrontDoor(
    'node 0 dies under clients that reach it through HAProxy: they carry on through node 1',
    async () => {
      await killUnderLoad(0);
    },
    300_000,
  );
});
