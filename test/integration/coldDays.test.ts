/**
 * Cold days (docs/day-tables.md, "Cold days"): days of traffic written for past days (ids start with the day),
 * the oldest archived by the job the reconcile schedule runs. The audit stays exact (balances are snapshots
 * plus live transfers), bills are right on both sides of the hot window, and the archived tables read back
 * exactly what was written. A day that is not settled is reported and left live; a run interrupted halfway
 * (a detach left pending, a day frozen without its snapshot) is finished by the next.
 */
import request from 'supertest';
import { ErrorCode } from '../../domain/errors';
import { auditWith } from '../../ledger/audit';
import { deposit } from '../../ledger/deposits';
import { archiveSchemaOf, coldDayLines, runColdDays, type ColdDaySettings } from '../../ledger/coldDays';
import { listBills, type Bill } from '../../ledger/reads';
import { HealthCheck } from '../../saga';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { linesOf, reconcileNow } from '../support/reconcile';
import { dayKey, DEPOSIT_FEN, isoDay, settlePastDay, writePastDay } from '../support/pastDays';

const HOT_WINDOW_DAYS = 90;
const PACKETS_PER_DAY = 6;
const settings: ColdDaySettings = { hotWindowDays: HOT_WINDOW_DAYS, tablespace: undefined };
/** Past the window, oldest first; the round trip archives these three. */
const OLD_DAYS = [dayKey(-100), dayKey(-99), dayKey(-98)];
/** Inside the window: the first just inside it, the other recent. */
const HOT_DAYS = [dayKey(-HOT_WINDOW_DAYS), dayKey(-2)];
const UNSETTLED_DAY = dayKey(-97);
const INTERRUPTED_DAYS = [dayKey(-96), dayKey(-95)];
const TABLESPACE_DAY = dayKey(-94);
/**
 * A tablespace the database already has, for the COLD_DAYS_TABLESPACE case: making one needs a directory
 * owned by the server's user on its host, which a test cannot assume, so the case runs only when given one.
 */
const COLD_TABLESPACE = process.env.REDPACKET_TEST_COLD_TABLESPACE;

describe('cold days: settled days past the hot window are archived, and the books stay exact', () => {
  let h: Harness;
  let users: string[];
  let archive: string;

  beforeAll(async () => {
    h = await createHarness({ COLD_DAYS_HOT_WINDOW_DAYS: String(HOT_WINDOW_DAYS) });
    archive = archiveSchemaOf(h.config.database.schema);
    users = ['ann', 'bo', 'cy', 'di'].map((name) => `cold-${name}`);
    for (const day of [...OLD_DAYS, ...HOT_DAYS]) await writePastDay(h.db, day, users, PACKETS_PER_DAY);
  });
  afterAll(async () => {
    await h.db.query(`DROP SCHEMA IF EXISTS ${archive} CASCADE`);
    await h.close();
  });

  const balances = async () =>
    (await h.db.query('SELECT id, balance_fen FROM accounts ORDER BY id')).rows as unknown[];
  const rowsOf = async (table: string, schema: string) =>
    (await h.db.query(`SELECT * FROM ${schema}.${table} ORDER BY id`)).rows as Record<string, unknown>[];
  const liveDayRows = async (table: string, day: string) =>
    (await h.db.query(`SELECT * FROM ${table} WHERE day = $1::date ORDER BY id`, [isoDay(day)]))
      .rows as Record<string, unknown>[];
  const attached = async (day: string) =>
    (
      await h.db.query(
        `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE c.relnamespace = current_schema()::regnamespace AND c.relname LIKE '%\\_' || $1`,
        [day],
      )
    ).rows.length;
  async function allBills(userId: string): Promise<{ lines: Bill[]; archived: unknown }> {
    const lines: Bill[] = [];
    let page = await listBills(h.db, userId, { limit: 7 });
    lines.push(...page.items);
    while (page.next) {
      page = await listBills(h.db, userId, { limit: 7, after: page.next });
      lines.push(...page.items);
    }
    return { lines, archived: page.archived };
  }

  test('round trip: the oldest days are archived, audited exactly, billed on both sides, read back', async () => {
    await expectAuditClean(h.db);
    const balancesBefore = await balances();
    const written = new Map<string, Record<string, Record<string, unknown>[]>>();
    for (const day of OLD_DAYS)
      written.set(day, {
        packets: await liveDayRows('packets', day),
        claims: await liveDayRows('claims', day),
        transfers: await liveDayRows('transfers', day),
      });
    const billsBefore = new Map<string, Bill[]>();
    for (const user of users) billsBefore.set(user, (await allBills(user)).lines);

    const run = await runColdDays(h.db, settings);
    expect(run).toEqual({ archived: OLD_DAYS.map(isoDay), unsettled: [], failed: [] });

    // Out of the live tables, into the archive schema, checked against the snapshot.
    for (const day of OLD_DAYS) {
      expect(await attached(day)).toBe(0);
      for (const table of ['packets', 'claims', 'transfers'] as const) {
        const readBack = await rowsOf(`${table}_${day}`, archive);
        expect(readBack).toEqual(written.get(day)?.[table]);
        expect(readBack.length).toBeGreaterThan(0);
      }
    }
    for (const day of HOT_DAYS) expect(await attached(day)).toBe(3);
    const { rows: cold } = await h.db.query(
      `SELECT to_char(day, 'YYYYMMDD') AS day, state, packet_count, claim_count, archive_schema
         FROM cold_days ORDER BY day`,
    );
    expect(cold).toEqual(
      OLD_DAYS.map((day) => ({
        day,
        state: 'archived',
        packet_count: PACKETS_PER_DAY,
        claim_count: PACKETS_PER_DAY * 2.5,
        archive_schema: archive,
      })),
    );

    // Each account's snapshot is what the written transfers moved, summed here independently.
    const expected = new Map<string, number>();
    for (const day of OLD_DAYS)
      for (const t of written.get(day)?.transfers ?? []) {
        const amountFen = Number(t.amount_fen);
        expected.set(
          String(t.credit_account_id),
          (expected.get(String(t.credit_account_id)) ?? 0) + amountFen,
        );
        expected.set(String(t.debit_account_id), (expected.get(String(t.debit_account_id)) ?? 0) - amountFen);
      }
    const { rows: snapshots } = await h.db.query<{ account_id: string; net_fen: number }>(
      `SELECT account_id, sum(credited_fen - debited_fen)::bigint AS net_fen FROM day_snapshots GROUP BY account_id`,
    );
    expect(new Map(snapshots.map((s) => [s.account_id, s.net_fen]))).toEqual(expected);

    // Balances did not move, and the audit (every check) is clean on snapshots plus live partitions.
    expect(await balances()).toEqual(balancesBefore);
    await expectAuditClean(h.db);

    // Exact, not lenient: one fen off in a snapshot is a balance violation (rolled back).
    const corrupted = await h.db
      .withTransaction(async (tx) => {
        await tx.query(
          `UPDATE day_snapshots SET credited_fen = credited_fen + 1
            WHERE account_id = wallet_account($1) AND day = $2::date`,
          [users[0], isoDay(OLD_DAYS[0]!)],
        );
        const report = await auditWith(tx);
        throw Object.assign(new Error('roll back'), { report });
      })
      .catch((err: { report?: Awaited<ReturnType<typeof auditWith>> }) => err.report);
    expect(corrupted?.violations.map((v) => v.check)).toEqual(['balance_equals_transfers']);
    // The archive's own check compares every account's movements with its snapshot: the same fen off leaves
    // a day unarchived (rolled back; the day is put back to 'cold' to be checked again).
    const unmatched = await h.db
      .withTransaction(async (tx) => {
        await tx.query(
          `UPDATE cold_days SET state = 'cold', archived_at = NULL, archive_schema = NULL WHERE day = $1::date`,
          [isoDay(OLD_DAYS[0]!)],
        );
        await tx.query(
          `UPDATE day_snapshots SET credited_fen = credited_fen + 1
            WHERE account_id = wallet_account($1) AND day = $2::date`,
          [users[0], isoDay(OLD_DAYS[0]!)],
        );
        const { rows } = await tx.query<{ mismatches: string[] }>(
          'SELECT mark_day_archived($1::date, $2, NULL) AS mismatches',
          [isoDay(OLD_DAYS[0]!), archive],
        );
        throw Object.assign(new Error('roll back'), { mismatches: rows[0]?.mismatches });
      })
      .catch((err: { mismatches?: string[] }) => err.mismatches);
    expect(unmatched).toEqual(['1 accounts differ from their snapshot']);

    // Bills: the hot days' lines exactly as before; the archived days' lines are not listed, and the last
    // page says they are archived, with a stable code and the newest archived day.
    const oldDates = new Set(OLD_DAYS);
    for (const user of users) {
      const { lines, archived } = await allBills(user);
      const before = billsBefore.get(user) ?? [];
      expect(lines).toEqual(before.filter((line) => !oldDates.has(dayOfLine(line))));
      expect(lines.some((line) => dayOfLine(line) === HOT_DAYS[0])).toBe(true);
      expect(archived).toEqual({ code: 'bills_archived', throughDay: isoDay(OLD_DAYS[2]!) });
    }
    const res = await request(h.app())
      .get('/v1/me/bills')
      .query({ limit: 100 })
      .set('Authorization', `Bearer ${await h.tokenFor(users[1]!)}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ nextCursor: null, archived: { code: 'bills_archived' } });

    // An archived day is never created again, and its tables refuse writes.
    await expect(
      h.db.query('SELECT ensure_day_partitions($1::date, $1::date)', [isoDay(OLD_DAYS[0]!)]),
    ).rejects.toMatchObject({ code: 'RP030' });
    await expect(
      h.db.query(`UPDATE ${archive}.packets_${OLD_DAYS[0]} SET greeting = 'x'`),
    ).rejects.toMatchObject({ code: '23514' });

    // A deposit key first used on an archived day is not made again (nor replayed): a stable refusal.
    await expect(
      deposit(h.db, { key: `past-${OLD_DAYS[0]}-${users[0]}`, userId: users[0]!, amountFen: DEPOSIT_FEN }),
    ).rejects.toMatchObject({ code: ErrorCode.DayArchived });
    expect(await balances()).toEqual(balancesBefore);

    // A second run has nothing to do.
    expect(await runColdDays(h.db, settings)).toEqual({ archived: [], unsettled: [], failed: [] });
  });

  test('a day that is not settled is reported, never archived, and goes once settled', async () => {
    await writePastDay(h.db, UNSETTLED_DAY, users, PACKETS_PER_DAY, { unsettled: true });
    const run = await runColdDays(h.db, settings);
    expect(run.archived).toEqual([]);
    expect(run.unsettled).toEqual([
      {
        day: isoDay(UNSETTLED_DAY),
        blockers: ['1 packets not finished', '1 claims not credited', '1 escrows still holding money'],
      },
    ]);
    expect(coldDayLines(run)).toEqual([
      {
        check: HealthCheck.ColdDayUnsettled,
        detail: `day ${isoDay(UNSETTLED_DAY)} is past the hot window but not settled: 1 packets not finished, 1 claims not credited, 1 escrows still holding money`,
      },
    ]);
    expect(await attached(UNSETTLED_DAY)).toBe(3);
    const { rows } = await h.db.query(
      `SELECT conname FROM pg_constraint WHERE conname LIKE '%' || $1 || '_cold'`,
      [UNSETTLED_DAY],
    );
    expect(rows).toEqual([]);
    expect(
      (await h.db.query('SELECT 1 FROM cold_days WHERE day = $1::date', [isoDay(UNSETTLED_DAY)])).rows,
    ).toEqual([]);

    // The reconcile run (the schedule's activity, called here directly) carries the job and reports the day.
    const reconcile = reconcileNow(h);
    const report = await reconcile();
    expect(report.countsByCheck[HealthCheck.ColdDayUnsettled]).toBe(1);
    expect(linesOf(report, HealthCheck.ColdDayUnsettled)[0]).toContain(isoDay(UNSETTLED_DAY));
    expect(report.archivedDays).toEqual([]);

    await settlePastDay(h.db, UNSETTLED_DAY, PACKETS_PER_DAY);
    const settled = await reconcile();
    expect(settled.archivedDays).toEqual([isoDay(UNSETTLED_DAY)]);
    expect(settled.countsByCheck[HealthCheck.ColdDayUnsettled]).toBe(0);
    expect(await attached(UNSETTLED_DAY)).toBe(0);
    await expectAuditClean(h.db);
  });

  test('a run interrupted halfway is finished by the next, the audit clean at every step', async () => {
    const [pendingDay, frozenDay] = INTERRUPTED_DAYS as [string, string];
    for (const day of INTERRUPTED_DAYS) await writePastDay(h.db, day, users, PACKETS_PER_DAY);
    const written = await liveDayRows('transfers', pendingDay);
    const balancesBefore = await balances();

    // Interrupted after the snapshot, in the middle of the claims partition's concurrent detach: a
    // transaction still using claims makes the detach wait, and its statement timeout stops it there.
    await h.db.query('SELECT freeze_cold_day($1::date)', [isoDay(pendingDay)]);
    await h.db.query('SELECT snapshot_cold_day($1::date)', [isoDay(pendingDay)]);
    const reader = await h.db.pool.connect();
    const detacher = await h.db.pool.connect();
    try {
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM claims WHERE day = current_date');
      await detacher.query('SET statement_timeout = 1000');
      await expect(
        detacher.query(`ALTER TABLE claims DETACH PARTITION claims_${pendingDay} CONCURRENTLY`),
      ).rejects.toMatchObject({ code: '57014' });
    } finally {
      await reader.query('ROLLBACK');
      reader.release();
      await detacher.query('RESET statement_timeout');
      detacher.release();
    }
    const { rows: pending } = await h.db.query(
      `SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = $1::regclass`,
      [`claims_${pendingDay}`],
    );
    expect(pending).toEqual([{ inhdetachpending: true }]);
    // Interrupted between freezing a day and its snapshot.
    await h.db.query('SELECT freeze_cold_day($1::date)', [isoDay(frozenDay)]);
    await expectAuditClean(h.db);

    const run = await runColdDays(h.db, settings);
    expect(run).toEqual({ archived: INTERRUPTED_DAYS.map(isoDay), unsettled: [], failed: [] });
    expect(await rowsOf(`transfers_${pendingDay}`, archive)).toEqual(written);
    for (const day of INTERRUPTED_DAYS) expect(await attached(day)).toBe(0);
    expect(await balances()).toEqual(balancesBefore);
    await expectAuditClean(h.db);
    expect(await runColdDays(h.db, settings)).toEqual({ archived: [], unsettled: [], failed: [] });
  });

  (COLD_TABLESPACE ? test : test.skip)(
    'with COLD_DAYS_TABLESPACE, a day and its indexes move there',
    async () => {
      await writePastDay(h.db, TABLESPACE_DAY, users, PACKETS_PER_DAY);
      const written = await liveDayRows('claims', TABLESPACE_DAY);
      const run = await runColdDays(h.db, { ...settings, tablespace: COLD_TABLESPACE });
      expect(run).toEqual({ archived: [isoDay(TABLESPACE_DAY)], unsettled: [], failed: [] });
      const { rows } = await h.db.query<{ relkind: string; spcname: string | null }>(
        `SELECT c.relkind::text, t.spcname FROM pg_class c
         LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
        WHERE c.relnamespace = $1::regnamespace AND c.relname LIKE '%' || $2 || '%'`,
        [archive, TABLESPACE_DAY],
      );
      expect(rows.filter((row) => row.relkind === 'r')).toHaveLength(3);
      expect(rows.filter((row) => row.relkind === 'i').length).toBeGreaterThanOrEqual(3);
      expect(rows.filter((row) => row.spcname !== COLD_TABLESPACE)).toEqual([]);
      expect(await rowsOf(`claims_${TABLESPACE_DAY}`, archive)).toEqual(written);
      const { rows: cold } = await h.db.query(
        'SELECT archive_tablespace FROM cold_days WHERE day = $1::date',
        [isoDay(TABLESPACE_DAY)],
      );
      expect(cold).toEqual([{ archive_tablespace: COLD_TABLESPACE }]);
      await expectAuditClean(h.db);
    },
  );
});

/** A bill line's day (yyyymmdd) as its transfer id carries it: the key after the kind. */
function dayOfLine(line: Bill): string {
  return line.transferId.slice(line.transferId.indexOf(':') + 1).slice(0, 8);
}
