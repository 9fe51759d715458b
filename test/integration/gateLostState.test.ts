/**
 * Issue 24, item 5: the gate when Redis lost part of what it knew. A gate exhausted after Redis lost it, a
 * partial gate an older exhaustGate left behind, and a committed open whose confirm never reached Redis: each
 * must still be answered by the gate or Postgres as the packet's state says, never by an error.
 */
import request from 'supertest';
import type { Express } from 'express';
import { createActivities } from '../../activities';
import { exhaustGate, removeGate } from '../../packets/gate/gate';
import { grab } from '../../packets/grab';
import { openShare } from '../../packets/store/openShare';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { fund, packetInput, uniqueTag } from '../support/ledgerFixtures';

describe('the gate after Redis lost part of it', () => {
  let h: Harness;
  let activities: ReturnType<typeof createActivities>;
  const grabDeps = () => ({ db: h.db, redis: h.redis, config: h.config });

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

  describe.each([
    ['the Express route', false],
    ['the hot lane', true],
  ])('a repeat open through %s after the open committed but its confirm was lost', (_way, hotLane) => {
    let app: Express;
    const tokens = new Map<string, string>();
    const call = async (userId: string, packetId: string, action: 'grab' | 'open') => {
      if (!tokens.has(userId)) tokens.set(userId, await h.tokenFor(userId));
      return request(app)
        .post(`/v1/packets/${packetId}/${action}`)
        .set('Authorization', `Bearer ${tokens.get(userId)}`);
    };
    /** The open statement commits while the answer (and the confirm to Redis) is lost on the way back. */
    const commitWithoutConfirm = (packetId: string, userId: string) => openShare(h.db, packetId, userId);
    /** The user's hold lapses, as it does HOLD_MS after the grab. */
    const lapseHold = (packetId: string, userId: string) =>
      h.redis.client.zadd(h.redis.keys.holders(packetId), Date.now() - 1_000, userId);

    beforeAll(() => {
      app = h.app(undefined, { hotLane });
    });

    test('returns the claim while the hold still lives', async () => {
      const packetId = await paidPacket(2);
      expect((await call('rl-a', packetId, 'grab')).status).toBe(200);
      const claim = await commitWithoutConfirm(packetId, 'rl-a');

      const repeat = await call('rl-a', packetId, 'open');
      expect(repeat.status).toBe(200);
      expect(repeat.body).toMatchObject({ claimId: claim.claimId, amountFen: claim.amountFen });
    });

    test('returns the claim after the hold lapsed, and tells the gate', async () => {
      const packetId = await paidPacket(2);
      expect((await call('ro-a', packetId, 'grab')).status).toBe(200);
      const claim = await commitWithoutConfirm(packetId, 'ro-a');
      await lapseHold(packetId, 'ro-a');

      const repeat = await call('ro-a', packetId, 'open');
      expect(repeat.status).toBe(200);
      expect(repeat.body).toMatchObject({ claimId: claim.claimId, amountFen: claim.amountFen });
      // The gate now knows: the claim is answered by Redis, and the user cannot grab again.
      expect(await h.redis.client.sismember(h.redis.keys.claimed(packetId), 'ro-a')).toBe(1);
      expect((await call('ro-a', packetId, 'grab')).body.code).toBe('already_claimed');
    });

    test('returns the claim once its lapsed share went to another grabber and the gate reads exhausted', async () => {
      const packetId = await paidPacket(1);
      expect((await call('rx-a', packetId, 'grab')).status).toBe(200);
      const claim = await commitWithoutConfirm(packetId, 'rx-a');
      await lapseHold(packetId, 'rx-a');
      // The lapsed hold returned the share to the pool, where another grab took it.
      expect((await call('rx-b', packetId, 'grab')).status).toBe(200);

      const repeat = await call('rx-a', packetId, 'open');
      expect(repeat.status).toBe(200);
      expect(repeat.body).toMatchObject({ claimId: claim.claimId, amountFen: claim.amountFen });
      // Postgres stays the authority: the other grabber's hold opens nothing.
      expect((await call('rx-b', packetId, 'open')).body.code).toBe('packet_exhausted');
    });
  });
});
