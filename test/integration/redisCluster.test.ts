/**
 * The gate on a real Redis Cluster (three masters, three replicas, started for this file alone, since one
 * test kills a master): grabs for packets on every master sent in one event-loop turn are all answered by
 * the gate, and a master killed during a storm is replaced by its replica while Postgres answers its
 * packets' grabs, with exactly each packet's shares claimed and every claim credited once.
 */
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import type { RedisClusterProcess } from '../../scripts/lib/redisCluster';
import type { LimitCheck } from '../../api/rateLimits';
import { grabPacket } from '../../packets/grab';
import { openPacket } from '../../packets/open';
import { expectAuditClean } from '../support/audit';
import { crowdOf, pool, type Client } from '../support/crowd';
import { createHarness, type Harness } from '../support/harness';
import { claimsNotCreditedOnce, claimsOf, sumOf } from '../support/moneyFigures';
import { eventually } from '../support/credits';
import { fund, packetResult, send } from '../support/packets';
import { startOwnCluster } from '../support/redisCluster';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const report = (line: string) => process.stderr.write(`[redis cluster] ${line}\n`);

describe('the gate on a Redis Cluster', () => {
  let cluster: RedisClusterProcess;
  let h: Harness;
  let sendSeq = 0;

  beforeAll(async () => {
    cluster = await startOwnCluster('test');
    report(`3 masters + 3 replicas up in ${cluster.startMs} ms`);
    // Holds outlive every storm here, so each granted hold is opened (lapsed holds: grabOpen.test.ts).
    h = await createHarness({ REDIS_URL: cluster.url, GRAB_HOLD_MS: '600000' });
    await h.startWorker();
  }, 60_000);
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h?.close();
    await cluster?.stop();
  });

  /** The port of the master that serves `packetId`'s slot, as the client's slot map says. */
  function masterOf(packetId: string): number {
    const owner = (h.redis.client as Cluster).slots[calculateSlot(packetId)]?.[0];
    return Number(owner?.split(':')[1]);
  }

  async function sendPacket(count: number, amountFen: number): Promise<string> {
    const senderId = `rc_sender${++sendSeq}`;
    await fund(h, senderId, amountFen);
    return (await send(h, senderId, { type: 'random', amountFen, count })).packetId;
  }

  /** Sends packets until every master serves at least `perMaster` of them; returns them by master. */
  async function packetsOnEveryMaster(perMaster: number, count: number, amountFen: number) {
    const byMaster = new Map<number, string[]>((await cluster.masters()).map((port) => [port, []]));
    for (let sent = 0; [...byMaster.values()].some((ids) => ids.length < perMaster); sent++) {
      if (sent > 40) throw new Error('40 packets and still a master without its share');
      const packetId = await sendPacket(count, amountFen);
      byMaster.get(masterOf(packetId))?.push(packetId);
    }
    return byMaster;
  }

  test('hundreds of grabs for packets on every master, sent in one event-loop turn, are all answered by the gate', async () => {
    const byMaster = await packetsOnEveryMaster(2, 100, 10_000);
    const packets = [...byMaster.values()].flat();
    const { ctx } = h.appWithContext();
    const grabs = 300;
    // One loop, no await: every grab's first Redis call is issued in this turn, and ioredis groups them
    // into one pipeline per master. With rate limits on (the default), each grab also counts the IP and
    // user counters, which live on other masters.
    const answers = await Promise.all(
      Array.from({ length: grabs }, (_, i) => {
        const packetId = packets[i % packets.length] as string;
        const userId = `rc_spread${i}`;
        const checks: LimitCheck[] = [
          { scope: 'ip', key: '198.51.100.1' },
          { scope: 'user', key: userId },
          { scope: 'packet', key: packetId },
        ];
        return grabPacket(ctx, packetId, userId, { gate: ctx.rateLimits.forGate(checks), checks });
      }),
    );
    expect(answers.filter((hold) => hold.degraded)).toEqual([]);
    expect(answers).toHaveLength(grabs);
    for (const packetId of packets) {
      const granted = answers.filter((hold) => hold.packetId === packetId).length;
      expect(await h.redis.client.zcard(h.redis.keys.holders(packetId))).toBe(granted);
      expect(Number(await h.redis.client.hget(h.redis.keys.gate(packetId), 'remaining'))).toBe(100 - granted);
    }
    // And the scripts themselves, with no limits and no awaits between them: one turn, every master.
    const direct = await Promise.all(
      packets.map((packetId) =>
        h.redis.scripts.checkHold(...h.redis.keys.gateScript(packetId), 'rc_spread0', 2_000),
      ),
    );
    expect(direct.map(([status]) => status)).toEqual(packets.map((_, i) => (i === 0 ? 1 : -1)));

    // The holds are opened, so the packets' money is settled as any other (the audit runs after).
    const opened = await pool(grabs, 20, (i) => {
      const packetId = packets[i % packets.length] as string;
      const userId = `rc_spread${i}`;
      const checks: LimitCheck[] = [{ scope: 'packet', key: packetId }];
      return openPacket(ctx, packetId, userId, { gate: ctx.rateLimits.forGate(checks), checks });
    });
    expect(opened.filter((claim) => claim.created)).toHaveLength(grabs);
    report(`${grabs} grabs over ${packets.length} packets on ${byMaster.size} masters: none degraded`);
  }, 120_000);

  /** A client that keeps at it until it has a claim or the packet says no for good. */
  async function claimer(url: string, packetId: string, client: Client) {
    const headers = { authorization: `Bearer ${client.token}` };
    const seen = { degradedGrabs: 0, gateGrabs: 0, claimed: false, attempts: 0, answers: [] as string[] };
    while (seen.attempts++ < 60) {
      const grab = await fetch(`${url}/v1/packets/${packetId}/grab`, { method: 'POST', headers });
      const hold = (await grab.json()) as { degraded?: boolean; code?: string };
      if (grab.status === 200) seen[hold.degraded ? 'degradedGrabs' : 'gateGrabs']++;
      seen.answers.push(`${grab.status} ${hold.code ?? (hold.degraded ? 'degraded' : 'gate')}`);
      if (hold.code === 'packet_exhausted' || hold.code === 'already_claimed') return seen;
      if (grab.status === 200 || hold.code === 'already_holding') {
        const open = await fetch(`${url}/v1/packets/${packetId}/open`, { method: 'POST', headers });
        const claim = (await open.json()) as { code?: string };
        if (open.status === 200) return { ...seen, claimed: true };
        if (claim.code === 'packet_exhausted') return seen;
      }
      await sleep(100);
    }
    throw new Error(`${client.userId} on ${packetId}: no final answer after 60 attempts`);
  }

  test('a master killed during a storm: its replica takes over, its grabs degrade briefly and recover, exactly the shares are claimed', async () => {
    // A crowd half again the shares, spread over five seconds: the shares last about three, so the
    // storm is under way before, during and after the failover (a kill at one second, about two more).
    const shares = 100;
    const amountFen = 10_000;
    const crowdSize = 150;
    const spreadMs = 5_000;
    const byMaster = await packetsOnEveryMaster(2, shares, amountFen);
    const [victim, victimPackets] = [...byMaster.entries()][0] as [number, string[]];
    // One packet per master is stormed; the victim's second packet is the probe for recovery.
    const stormed = [...byMaster.values()].map((ids) => ids[0] as string);
    const probe = victimPackets[1] as string;
    const { url } = await h.listen(h.app());
    const crowds = await Promise.all(stormed.map((_, p) => crowdOf(h, `rc_storm${p}_`, crowdSize)));

    const storms = stormed.map((packetId, p) =>
      pool(crowdSize, crowdSize, async (i) => {
        await sleep((i * spreadMs) / crowdSize);
        return claimer(url, packetId, crowds[p]![i]!);
      }),
    );
    await sleep(1_000);
    const killedAtMs = Date.now();
    await cluster.kill(victim);
    await cluster.waitHealthy();
    const failoverMs = Date.now() - killedAtMs;
    // Recovery: the victim's slots are answered by the gate again (its replica, now a master).
    let recoveredMs = 0;
    for (let i = 0; ; i++) {
      const token = await h.tokenFor(`rc_probe${i}`);
      const res = await fetch(`${url}/v1/packets/${probe}/grab`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      const hold = (await res.json()) as { degraded?: boolean };
      if (res.status === 200 && hold.degraded === false) {
        recoveredMs = Date.now() - killedAtMs;
        break;
      }
      if (Date.now() - killedAtMs > 20_000) throw new Error('the gate never came back for the probe packet');
      await sleep(100);
    }
    const results = await Promise.all(storms);

    const victimStorm = results[stormed.indexOf(victimPackets[0] as string)] ?? [];
    const degraded = victimStorm.reduce((sum, seen) => sum + seen.degradedGrabs, 0);
    report(
      `master :${victim} killed: replica promoted and cluster_state ok after ${failoverMs} ms, ` +
        `gate answering its slots again after ${recoveredMs} ms, ${degraded} degraded grabs on its packet`,
    );
    const tally: Record<string, number> = {};
    for (const seen of victimStorm) for (const a of seen.answers) tally[a] = (tally[a] ?? 0) + 1;
    report(`its packet's grab answers: ${JSON.stringify(tally)}`);
    expect(degraded).toBeGreaterThan(0);
    for (const [p, packetId] of stormed.entries()) {
      const claims = await claimsOf(h.db, packetId);
      expect(claims).toHaveLength(shares);
      expect(new Set(claims.map((claim) => claim.userId)).size).toBe(shares);
      expect(sumOf(claims)).toBe(amountFen);
      expect(results[p]?.filter((seen) => seen.claimed)).toHaveLength(shares);
      expect(await packetResult(h, packetId)).toEqual({
        packetId,
        creditedCount: shares,
        creditedFen: amountFen,
        refundFen: 0,
      });
    }
    expect(await claimsNotCreditedOnce(h.db, stormed)).toEqual([]);
  }, 180_000);

  test('the whole cluster down and back empty: grabs degrade at once, then the gate is re-armed from Postgres, exactly the shares are claimed', async () => {
    const shares = 20;
    const packetId = await sendPacket(shares, 2_000);
    const { url } = await h.listen(h.app());
    const crowd = await crowdOf(h, 'rc_down_', shares * 2);
    const before = await Promise.all(crowd.slice(0, 8).map((client) => claimer(url, packetId, client)));
    expect(before.every((seen) => seen.claimed && seen.gateGrabs === 1)).toBe(true);

    for (const node of cluster.nodes) await cluster.kill(node.port);
    // The client is no longer ready, so grabs skip Redis and Postgres answers them, under its strict limit.
    const during = await Promise.all(crowd.slice(8, 14).map((client) => claimer(url, packetId, client)));
    expect(during.every((seen) => seen.claimed && seen.degradedGrabs === 1)).toBe(true);

    // Back with nothing in memory (no persistence): the gate is re-armed from Postgres at the next grab.
    await Promise.all(cluster.nodes.map((node) => cluster.restart(node.port)));
    await cluster.waitHealthy(30_000);
    await eventually(
      () => Promise.resolve(h.redis.client.status === 'ready' ? true : undefined),
      10_000,
      'the client to reconnect',
    );
    const after = await Promise.all(crowd.slice(14).map((client) => claimer(url, packetId, client)));
    expect(after.filter((seen) => seen.claimed)).toHaveLength(shares - 14);
    expect(after.every((seen) => seen.degradedGrabs === 0)).toBe(true);
    expect(await h.redis.client.hget(h.redis.keys.gate(packetId), 'remaining')).toBe('0');

    const claims = await claimsOf(h.db, packetId);
    expect(claims).toHaveLength(shares);
    expect(new Set(claims.map((claim) => claim.userId)).size).toBe(shares);
    expect(sumOf(claims)).toBe(2_000);
    expect(await packetResult(h, packetId)).toEqual({
      packetId,
      creditedCount: shares,
      creditedFen: 2_000,
      refundFen: 0,
    });
    expect(await claimsNotCreditedOnce(h.db, [packetId])).toEqual([]);
  }, 120_000);
});
