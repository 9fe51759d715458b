/**
 * Issue 24, item 5: the gate when Redis lost part of what it knew. A gate exhausted after Redis lost it, a
 * partial gate an older exhaustGate left behind, and a committed open whose confirm never reached Redis: each
 * must still be answered by the gate or Postgres as the packet's state says, never by an error.
 */
import { createActivities } from '../../activities';
import { exhaustGate, removeGate } from '../../packets/gate/gate';
import { grab } from '../../packets/grab';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { fund, packetInput, uniqueTag } from '../support/ledgerFixtures';

describe('the gate after Redis lost part of it', () => {
  let h: Harness;
  let activities: ReturnType<typeof createActivities>;
  const grabDeps = () => ({ db: h.db, redis: h.redis, holdMs: h.config.packet.holdMs });

  beforeAll(async () => {
    h = await createHarness();
    activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  /** A paid random packet of `count` shares of 100 fen each on average, its gate armed by the payment. */
  async function paidPacket(count: number): Promise<string> {
    const tag = uniqueTag();
    await fund(h.db, `s-${tag}`, 100 * count);
    const input = packetInput({
      packetId: `gl-${tag}`,
      senderId: `s-${tag}`,
      totalFen: 100 * count,
      shareCount: count,
    });
    await activities.payPacket(input);
    return input.packetId;
  }

  describe('a half gate', () => {
    test('exhausting a gate that Redis lost creates nothing, and the next grab re-arms it whole', async () => {
      const packetId = await paidPacket(2);
      await removeGate(h.redis, packetId);
      await exhaustGate(h.redis, packetId);
      expect(await h.redis.client.exists(h.redis.keys.gate(packetId))).toBe(0);

      const hold = await grab(grabDeps(), packetId, 'hg-a');
      expect(hold).toMatchObject({ degraded: false, remainingCount: 1 });
      expect(await h.redis.client.pttl(h.redis.keys.gate(packetId))).toBeGreaterThan(0);
    });

    test('a grab of a partial gate (remaining alone, no expiry, no TTL) is answered and the gate rebuilt', async () => {
      const packetId = await paidPacket(2);
      await removeGate(h.redis, packetId);
      // What exhaustGate used to leave on a gate Redis had lost.
      await h.redis.client.hset(h.redis.keys.gate(packetId), 'remaining', 0);

      const hold = await grab(grabDeps(), packetId, 'hg-b');
      expect(hold).toMatchObject({ degraded: false, remainingCount: 1 });
      const gate = await h.redis.client.hgetall(h.redis.keys.gate(packetId));
      expect(gate).toMatchObject({ remaining: '1', count: '2', restricted: '0' });
      expect(Number(gate.expiresAtMs)).toBeGreaterThan(Date.now());
      expect(await h.redis.client.pttl(h.redis.keys.gate(packetId))).toBeGreaterThan(0);
    });
  });
});
