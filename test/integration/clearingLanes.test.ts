/**
 * Clearing lanes: with two credit pump shards, a cross-cell credit goes into the clearing account of its
 * packet's shard (`clearing:s:0` or `clearing:s:1`), so two pumps never wait on one clearing row, and the
 * home cell pays it out of its own account of the same lane.
 */
import { shardOfHash, SHARD_HASH_SQL } from '../../packets/store/credits';
import { expectAuditClean } from '../support/audit';
import { usersHomedIn } from '../support/cells';
import { createClearingCells, type ClearingCells } from '../support/clearingCells';
import { eventually, payDirectly } from '../support/credits';
import { uniqueTag } from '../support/ledgerFixtures';
import { open } from '../support/packets';

describe('clearing lanes', () => {
  let cells: ClearingCells;

  beforeAll(async () => {
    cells = await createClearingCells({ CREDIT_SHARDS: '2', CREDIT_POLL_INTERVAL_MS: '200' });
    await cells.n.h.startWorker();
    await cells.s.h.startWorker();
  });
  afterAll(async () => {
    await cells?.close();
  });

  test("each cross-cell credit uses the lane of its packet's shard, on both sides", async () => {
    const tag = uniqueTag();
    const [sender] = usersHomedIn('n', `ls-${tag}`, 1);
    const candidates = usersHomedIn('s', `lo-${tag}`, 40);
    const openers: string[] = [];
    const packetIds: string[] = [];
    const shardsSeen = new Set<number>();
    // Packets until both shards have some (packet ids are random, so a shard may take a few tries).
    for (const userId of candidates) {
      if (shardsSeen.size === 2 && openers.length >= 4) break;
      const packetId = await payDirectly(cells.n.h, sender!, { type: 'fixed', totalFen: 10, count: 1 });
      const { rows } = await cells.n.h.db.query<{ hash: number }>(
        `SELECT ${SHARD_HASH_SQL('$1::text')} AS hash`,
        [packetId],
      );
      shardsSeen.add(shardOfHash(rows[0]!.hash, 2));
      await open(cells.n.h, packetId, userId);
      openers.push(userId);
      packetIds.push(packetId);
    }
    expect(shardsSeen.size).toBe(2);
    await eventually(
      async () => {
        const { rows } = await cells.n.h.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM xcredit_outbox WHERE delivered_at IS NOT NULL`,
        );
        return rows[0]?.n === openers.length ? true : undefined;
      },
      20_000,
      'every cross-cell credit delivered',
    );
    const { rows } = await cells.n.h.db.query<{ packet_id: string; lane: number; hash: number }>(
      `SELECT packet_id, lane, ${SHARD_HASH_SQL('packet_id')} AS hash FROM xcredit_outbox
        WHERE packet_id = ANY($1::text[])`,
      [packetIds],
    );
    for (const row of rows) expect(row.lane).toBe(shardOfHash(row.hash, 2));
    const lanes = new Set(rows.map((row) => row.lane));
    expect(lanes).toEqual(new Set([0, 1]));
    const paidOut = await cells.s.h.db.query<{ id: string; balance_fen: number }>(
      `SELECT id, balance_fen FROM accounts WHERE kind = 'clearing' ORDER BY id`,
    );
    expect(paidOut.rows.map((row) => row.id)).toEqual([...lanes].sort().map((lane) => `clearing:n:${lane}`));
    expect(paidOut.rows.reduce((sum, row) => sum + row.balance_fen, 0)).toBe(-10 * openers.length);
    await expectAuditClean(cells.n.h.db);
    await expectAuditClean(cells.s.h.db);
    expect((await cells.pairAudit()).violations).toEqual([]);
  });
});
