/**
 * Migration 0017 in place (docs/day-tables.md): a schema at the state before it (every earlier migration),
 * holding books written as the old code wrote them, over several days and with legacy ids, is audited,
 * migrated, and audited again; every balance, claim and transfer is the same row after, each in its day's
 * partition, and the bills hold the same lines, paged by (day, seq). The product then keeps working on it.
 */
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb, type Db } from '../../db';
import { MIGRATIONS_DIR, migrate } from '../../db/migrate';
import { listBills, type Bill, type BillsPosition } from '../../ledger/reads';
import { creditLockedClaims } from '../../packets/store/credits';
import { openShare } from '../../packets/store/openShare';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';

const DAY_MS = 86_400_000;
const dayText = (offsetDays: number) =>
  new Date(Date.now() + offsetDays * DAY_MS).toISOString().slice(0, 10).replace(/-/g, '');
/** The day of an id as day_of_id reads it, for the expectations (yyyymmdd prefix, or the legacy day). */
const dayOfKey = (key: string) => (/^\d{8}/.test(key) ? key.slice(0, 8) : '19700101');
const dayOfTransfer = (id: string) => dayOfKey(id.slice(id.indexOf(':') + 1));

/** The books as the code before 0017 wrote them: rows, and balances moved in the same statements. */
async function writeOldBooks(db: Db): Promise<{ users: string[]; openPacket: string }> {
  const q = (text: string, values?: unknown[]) => db.query(text, values);
  const post = async (
    id: string,
    kind: string,
    from: string,
    to: string,
    fen: number,
    p?: string,
    c?: string,
  ) => {
    await q(
      `INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount_fen, packet_id, claim_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [id, kind, from, to, fen, p ?? null, c ?? null],
    );
    await q('UPDATE accounts SET balance_fen = balance_fen - $2 WHERE id = $1', [from, fen]);
    await q('UPDATE accounts SET balance_fen = balance_fen + $2 WHERE id = $1', [to, fen]);
  };
  const users = ['mig-s', 'mig-a', 'mig-b'];
  for (const user of users)
    await q(`INSERT INTO accounts (id, kind, owner_id) VALUES ($1, 'wallet', $2)`, [`wallet:${user}`, user]);
  await post('deposit:mig-fund', 'deposit', 'external:funding', 'wallet:mig-s', 10_000);

  // Four packets: 40 days old and finished, yesterday's settled with a refund, today's still open with one
  // claim credited and one not, and one with an id from before ids carried a day.
  const packets = [
    { id: `${dayText(-40)}cn1r00000000001mig40`, status: 'finished', claims: 2, refund: 0 },
    { id: `${dayText(-1)}cn1r00000000002mig01`, status: 'finished', claims: 1, refund: 200 },
    { id: `${dayText(0)}cn1r00000000003mig00`, status: 'open', claims: 2, refund: null },
    { id: 'legacy-mig-packet', status: 'finished', claims: 2, refund: 0 },
  ];
  for (const packet of packets) {
    const remaining = packet.status === 'open' ? 1 : 0;
    const totalFen = 300 + (packet.refund ?? 0) + (remaining > 0 ? 100 : 0);
    await q(
      `INSERT INTO packets (id, sender_id, type, total_fen, share_count, remaining_fen, remaining_count, status,
                            expires_at, closed_at, refund_fen)
       VALUES ($1, 'mig-s', 'random', $2, $3, $4, $5, $6, now() + interval '1 day',
               CASE WHEN $6 <> 'open' THEN now() END, $7)`,
      [
        packet.id,
        totalFen,
        packet.claims + remaining + (packet.refund ? 1 : 0),
        remaining * 100 + (packet.refund ?? 0),
        remaining + (packet.refund ? 1 : 0),
        packet.status,
        packet.refund,
      ],
    );
    await q(
      `INSERT INTO payment_decisions (packet_id, fingerprint, outcome, decided_at)
             VALUES ($1, 'legacy', 'paid', now())`,
      [packet.id],
    );
    await q(`INSERT INTO accounts (id, kind, owner_id) VALUES ($1, 'escrow', $2)`, [
      `escrow:${packet.id}`,
      packet.id,
    ]);
    await post(`pay:${packet.id}`, 'pay', 'wallet:mig-s', `escrow:${packet.id}`, totalFen, packet.id);
    const shares = packet.claims === 1 ? [300] : [100, 200];
    for (const [i, amountFen] of shares.entries()) {
      const claimId = `${packet.id}-${i + 1}`;
      const credited = !(packet.status === 'open' && i === 1);
      await q(
        `INSERT INTO claims (id, packet_id, user_id, seq, amount_fen, credited_at)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN clock_timestamp() END)`,
        [claimId, packet.id, users[i + 1], i + 1, amountFen, credited],
      );
      if (credited)
        await post(
          `credit:${claimId}`,
          'credit',
          `escrow:${packet.id}`,
          `wallet:${users[i + 1]}`,
          amountFen,
          packet.id,
          claimId,
        );
    }
    if (packet.refund)
      await post(
        `refund:${packet.id}`,
        'refund',
        `escrow:${packet.id}`,
        'wallet:mig-s',
        packet.refund,
        packet.id,
      );
  }
  return { users, openPacket: packets[2]!.id };
}

async function allBills(db: Db, userId: string, limit: number): Promise<Bill[][]> {
  const pages: Bill[][] = [];
  let after: BillsPosition | undefined;
  do {
    const page = await listBills(db, userId, { limit, after });
    pages.push(page.items);
    after = page.next ?? undefined;
  } while (after !== undefined);
  return pages;
}

/**
 * Today's audit reads the live_* views and the cold days' tables of 0018. Before 0017 every row was live and
 * no day was cold, so the old schema is audited through stand-ins that say exactly that, dropped again
 * before the migration runs (they would hold on to the tables 0017 renames).
 */
async function expectOldBooksAuditClean(db: Db): Promise<void> {
  await db.query(`CREATE TABLE cold_days (day date PRIMARY KEY);
    CREATE TABLE day_snapshots (account_id text, day date, credited_fen bigint, debited_fen bigint);
    CREATE VIEW live_packets AS SELECT * FROM packets;
    CREATE VIEW live_claims AS SELECT * FROM claims;
    CREATE VIEW live_transfers AS SELECT * FROM transfers`);
  try {
    await expectAuditClean(db);
  } finally {
    await db.query(
      `DROP VIEW live_packets, live_claims, live_transfers; DROP TABLE cold_days, day_snapshots`,
    );
  }
}

describe('migration 0017 moves the books into day partitions in place', () => {
  let h: Harness;
  let db: Db;
  let oldDir: string;
  beforeAll(async () => {
    h = await createHarness();
    db = createDb({ database: { ...h.config.database, schema: `${h.config.database.schema}_mig` } });
    oldDir = await mkdtemp(join(tmpdir(), 'rp-migrations-0016-'));
    for (const file of await readdir(MIGRATIONS_DIR))
      if (/^\d{4}_/.test(file) && Number(file.slice(0, 4)) < 17)
        await cp(join(MIGRATIONS_DIR, file), join(oldDir, file));
  });
  afterAll(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${db.schema} CASCADE`);
    await db.close();
    await rm(oldDir, { recursive: true, force: true });
    await h.close();
  });

  test('audit clean before and after; balances, claims, transfers and bills unchanged', async () => {
    await migrate(db, { migrationsDir: oldDir });
    const { rows: partitioned } = await db.query(
      `SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'transfers'::regclass`,
    );
    expect(partitioned).toEqual([]);
    const { users, openPacket } = await writeOldBooks(db);
    await expectOldBooksAuditClean(db);

    const snapshot = async (withDay: boolean) => ({
      accounts: (await db.query('SELECT id, kind, owner_id, balance_fen FROM accounts ORDER BY id')).rows,
      claims: (
        await db.query(
          `SELECT id, packet_id, user_id, seq, amount_fen, created_at, credited_at${withDay ? ', tableoid::regclass::text AS part' : ''}
             FROM claims ORDER BY id`,
        )
      ).rows,
      transfers: (
        await db.query(
          `SELECT id, seq, debit_account_id, credit_account_id, amount_fen, kind, packet_id, claim_id, created_at
                  ${withDay ? ', tableoid::regclass::text AS part' : ''}
             FROM transfers ORDER BY id`,
        )
      ).rows,
      packets: (
        await db.query(
          `SELECT * ${withDay ? ', tableoid::regclass::text AS part' : ''} FROM packets ORDER BY id`,
        )
      ).rows,
    });
    const before = await snapshot(false);
    const billsBefore = new Map<string, string[]>();
    for (const user of users) {
      const { rows } = await db.query<{ id: string }>(
        `SELECT id FROM transfers WHERE $1 IN (debit_account_id, credit_account_id) ORDER BY seq DESC`,
        [`wallet:${user}`],
      );
      billsBefore.set(
        user,
        rows.map((row) => row.id),
      );
    }

    expect((await migrate(db)).applied).toEqual([
      '0017_day_tables.sql',
      '0018_cold_days.sql',
      '0019_day_checks_inlined.sql',
    ]);
    await expectAuditClean(db);
    const after = await snapshot(true);
    const strip = <T extends Record<string, unknown>>(rows: T[]) =>
      rows.map(({ part: _part, day: _day, ...row }) => row);
    expect(after.accounts).toEqual(before.accounts);
    expect(strip(after.claims)).toEqual(before.claims);
    expect(strip(after.transfers)).toEqual(before.transfers);
    expect(strip(after.packets)).toEqual(before.packets);
    // Every row sits in its day's partition; legacy ids in the legacy one.
    const partOf = (table: string, day: string) => `${table}_${day === '19700101' ? 'legacy' : day}`;
    for (const row of after.transfers)
      expect(row['part']).toBe(partOf('transfers', dayOfTransfer(row['id'] as string)));
    for (const row of after.claims)
      expect(row['part']).toBe(partOf('claims', dayOfKey(row['packet_id'] as string)));
    for (const row of after.packets)
      expect(row['part']).toBe(partOf('packets', dayOfKey(row['id'] as string)));
    expect(new Set(after.transfers.map((row) => row['part'] as string)).size).toBe(4);

    // Bills: the same lines, newest day first and by seq within a day, in pages of 2 that skip or repeat none.
    for (const user of users) {
      const pages = await allBills(db, user, 2);
      const ids = pages.flat().map((bill) => bill.transferId);
      const seqOf = new Map(before.transfers.map((row) => [row['id'] as string, row['seq'] as number]));
      const expected = [...billsBefore.get(user)!].sort(
        (a, b) => dayOfTransfer(b).localeCompare(dayOfTransfer(a)) || seqOf.get(b)! - seqOf.get(a)!,
      );
      expect(ids).toEqual(expected);
    }

    // The product carries on: the next transfer's seq follows the old ones, and an open and its credit land
    // in today's partitions.
    const claim = await openShare(db, openPacket, 'mig-c', { draw: () => 0 });
    await db.withTransaction((tx) =>
      creditLockedClaims(tx, [
        { id: claim.claimId, packetId: openPacket, userId: 'mig-c', amountFen: claim.amountFen },
      ]),
    );
    const { rows: latest } = await db.query<{ seq: number; part: string }>(
      `SELECT seq, tableoid::regclass::text AS part FROM transfers WHERE id = $1`,
      [`credit:${claim.claimId}`],
    );
    expect(latest[0]?.seq).toBeGreaterThan(Math.max(...before.transfers.map((row) => row['seq'] as number)));
    expect(latest[0]?.part).toBe(`transfers_${dayText(0)}`);
    await expectAuditClean(db);
  });
});
