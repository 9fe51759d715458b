/**
 * The "finished" mark and the "all credited" signal are derived from Postgres, so no single lost step loses
 * them (issue 24, item 5): a pump attempt whose mark fails after its credit committed (its retry, or another
 * pump, finds nothing left to credit), and a last credit made by the open path's large-claim credit. Two
 * attempts cannot both miss the packet inside their transactions: both lock its escrow row, so the second
 * sees the first's commit.
 */
import type { Db } from '../../db';
import { creditLargeClaim } from '../../packets/creditInOpen';
import { claimIdOf, openShare } from '../../packets/store/openShare';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { fund, packetResult, send } from '../support/packets';

/** Far beyond each test's patience: a packet that finishes did so because it heard, not because it expired. */
const LONG_EXPIRY_SECONDS = 600;
const HEARD_WITHIN_MS = 20_000;

async function statusOf(h: Harness, packetId: string): Promise<string | undefined> {
  const { rows } = await h.db.query<{ status: string }>('SELECT status FROM packets WHERE id = $1', [
    packetId,
  ]);
  return rows[0]?.status;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('a packet whose last credit was not marked by the pump that made it', () => {
  let h: Harness;
  let failNextMark = false;
  beforeAll(async () => {
    h = await createHarness({ CREDIT_SHARDS: '1', CREDIT_SYNC_MIN_FEN: '1000' });
    // When armed, the pump's "finished" mark of a packet whose claims are all credited fails once (as on a
    // statement timeout), after the credit it follows has committed.
    const db: Db = {
      ...h.db,
      pool: h.db.pool,
      schema: h.db.schema,
      withTransaction: (fn, options) => h.db.withTransaction(fn, options),
      query: async (text, values) => {
        if (
          failNextMark &&
          text.includes('UPDATE packets p SET status') &&
          text.includes('unnest($1::text[])')
        ) {
          const { rows } = await h.db.query(
            `SELECT 1 FROM packets p WHERE p.id = ANY($1::text[]) AND p.remaining_count = 0
               AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.packet_id = p.id AND c.credited_at IS NULL)`,
            values,
          );
          if (rows.length > 0) {
            failNextMark = false;
            throw new Error('canceling statement due to statement timeout');
          }
        }
        return h.db.query(text, values);
      },
    };
    await h.startWorker(undefined, { db });
  });
  afterAll(async () => {
    await expectAuditClean(h.db);
    await h.close();
  });

  test('when the mark fails after the credit committed, the packet is finished and its workflow hears it', async () => {
    await fund(h, 'mark-sender', 200);
    const packet = await send(h, 'mark-sender', {
      type: 'fixed',
      amountFen: 200,
      count: 2,
      expiresInSeconds: LONG_EXPIRY_SECONDS,
    });
    failNextMark = true;
    await openShare(h.db, packet.packetId, 'mark-a');
    await openShare(h.db, packet.packetId, 'mark-b');
    const result = await within(packetResult(h, packet.packetId), HEARD_WITHIN_MS, 'the packet workflow');
    expect(failNextMark).toBe(false); // the mark did fail once
    expect(result).toMatchObject({ creditedCount: 2, creditedFen: 200, refundFen: 0 });
    expect(await statusOf(h, packet.packetId)).toBe('finished');
  }, 30_000);

  test('when the large-claim credit in the open path credits the last claim, the packet is finished and its workflow hears it', async () => {
    await fund(h, 'large-sender', 2_000);
    const packet = await send(h, 'large-sender', {
      type: 'fixed',
      amountFen: 2_000,
      count: 2,
      expiresInSeconds: LONG_EXPIRY_SECONDS,
    });
    // Set aside in advance (claim ids are <packet>-<seq>), so the pumps never take these claims: only the
    // open path credits them, as when its credit commits before any pump looks.
    for (const seq of [1, 2]) {
      await h.db.query(
        `INSERT INTO credit_failures (claim_id, packet_id, attempts, last_error, retry_at)
         VALUES ($1, $2, 1, 'held by the test', now() + interval '1 hour')`,
        [claimIdOf(packet.packetId, seq), packet.packetId],
      );
    }
    for (const userId of ['large-a', 'large-b']) {
      const claim = await openShare(h.db, packet.packetId, userId);
      const credited = await creditLargeClaim(
        h.db,
        { id: claim.claimId, packetId: packet.packetId, userId, amountFen: claim.amountFen },
        h.config.credit.syncMinFen,
      );
      expect(credited).toBe(true);
    }
    const result = await within(packetResult(h, packet.packetId), HEARD_WITHIN_MS, 'the packet workflow');
    expect(result).toMatchObject({ creditedCount: 2, creditedFen: 2_000, refundFen: 0 });
    expect(await statusOf(h, packet.packetId)).toBe('finished');
  }, 30_000);
});
