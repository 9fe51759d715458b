import request from 'supertest';
import { createActivities } from '../../activities';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { fund, packetInput, uniqueTag } from '../support/ledgerFixtures';

/**
 * Two cells in one process: two apps built from two dependency values (each its own schema, key prefix and
 * task queue, hence its own batcher, cache, rate limits and token cache). A packet id that both cells hold
 * answers from each cell's own data, and a packet one cell holds is unknown to the other.
 */
describe('two cells in one process', () => {
  let north: Harness;
  let south: Harness;

  beforeAll(async () => {
    north = await createHarness();
    south = await createHarness();
  });
  afterAll(async () => {
    await expectAuditClean(north.db);
    await expectAuditClean(south.db);
    await Promise.all([north.close(), south.close()]);
  });

  /** A paid, armed fixed packet of two shares of `shareFen` each in the harness' cell. */
  async function paidPacket(h: Harness, packetId: string, shareFen: number): Promise<void> {
    const senderId = `s-${packetId}`;
    await fund(h.db, senderId, 2 * shareFen);
    const activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
    const input = packetInput({ packetId, senderId, totalFen: 2 * shareFen, shareCount: 2 });
    await activities.payPacket({ ...input, type: 'fixed' });
  }

  const claimsOf = async (h: Harness, packetId: string) =>
    (
      await h.db.query<{ userId: string; amountFen: string }>(
        'SELECT user_id AS "userId", amount_fen AS "amountFen" FROM claims WHERE packet_id = $1 ORDER BY user_id',
        [packetId],
      )
    ).rows.map((row) => ({ userId: row.userId, amountFen: Number(row.amountFen) }));

  test.each([
    ['the hot lane', true],
    ['the Express route', false],
  ])('through %s, each app grabs and opens in its own cell only', async (_way, hotLane) => {
    const apps = { north: north.app(undefined, { hotLane }), south: south.app(undefined, { hotLane }) };
    const shared = `cell-${uniqueTag()}`;
    const northOnly = `cell-${uniqueTag()}`;
    await paidPacket(north, shared, 100);
    await paidPacket(south, shared, 300);
    await paidPacket(north, northOnly, 100);
    const post = async (cell: 'north' | 'south', packetId: string, action: string, userId: string) =>
      request(apps[cell])
        .post(`/v1/packets/${packetId}/${action}`)
        .set('Authorization', `Bearer ${await (cell === 'north' ? north : south).tokenFor(userId)}`);

    for (const [cell, userId] of [
      ['north', 'n-user'],
      ['south', 's-user'],
    ] as const) {
      expect((await post(cell, shared, 'grab', userId)).status).toBe(200);
      expect((await post(cell, shared, 'open', userId)).status).toBe(200);
    }
    // Each claim is its own cell's share, in its own schema.
    expect(await claimsOf(north, shared)).toEqual([{ userId: 'n-user', amountFen: 100 }]);
    expect(await claimsOf(south, shared)).toEqual([{ userId: 's-user', amountFen: 300 }]);
    // Each gate counts only its own cell's grab, under its own key prefix.
    const remaining = async (h: Harness) => h.redis.client.hget(h.redis.keys.gate(shared), 'remaining');
    expect([await remaining(north), await remaining(south)]).toEqual(['1', '1']);
    // A packet the north cell holds is not the south cell's: it answers as any unknown packet.
    expect((await post('south', northOnly, 'grab', 's-user')).status).toBe(404);
    expect((await post('north', northOnly, 'grab', 'n-user')).status).toBe(200);
  });
});
