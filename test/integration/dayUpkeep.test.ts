/**
 * Upkeep of the day partitions (docs/day-tables.md): the reconcile schedule's runs create the coming days, and
 * an upkeep that has fallen behind is an alarm (readiness, the run's report) while every send still succeeds.
 * "The schedule paused for longer than the lead time" is played by dropping the days ahead (what days
 * without upkeep leave) and by holding the lock a partition's attach needs (what a run that cannot create
 * them meets).
 */
import request from 'supertest';
import {
  DAY_PARTITIONS_AHEAD_DAYS,
  DAY_PARTITIONS_ALARM_DAYS,
  dayPartitionHealth,
  ensureDayPartitions,
} from '../../ledger/dayTables';
import { HealthCheck, reconcileScheduleId } from '../../saga';
import { ensureReconcileSchedule } from '../../workers/reconcileSchedule';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { fund, send } from '../support/packets';
import { awaitScheduledRun, linesOf } from '../support/reconcile';

const DAY_MS = 86_400_000;
const dayText = (offsetDays: number) =>
  new Date(Date.now() + offsetDays * DAY_MS).toISOString().slice(0, 10).replace(/-/g, '');

describe('day partitions are kept ahead, and a lapse is an alarm before a send fails', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ RECONCILE_INTERVAL_MS: '1000' });
    await h.startWorker(undefined, { reconcile: { settings: h.config.reconcile } });
  });
  afterAll(async () => {
    await h.temporal.client.schedule
      .getHandle(reconcileScheduleId(h.config.temporal.taskQueue))
      .delete()
      .catch(() => undefined);
    await expectAuditClean(h.db);
    await h.close();
  });

  /** What days without upkeep leave: only today and tomorrow still have partitions. */
  async function dropDaysAfterTomorrow(): Promise<void> {
    const { rows } = await h.db.query<{ parent: string; part: string }>(
      `SELECT p.relname AS parent, c.relname AS part
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname IN ('packets', 'claims', 'transfers') AND p.relnamespace = current_schema()::regnamespace
          AND c.relname > p.relname || '_' || $1 AND c.relname <> p.relname || '_legacy'
        ORDER BY p.relname = 'packets'`,
      [dayText(1)],
    );
    // One transaction that takes the three tables first: the worker's pumps read them meanwhile, and detaching
    // one partition at a time took the tables' locks in an order a reader could cross (deadlock detected).
    // Postgres may still pick this transaction as a deadlock's victim, so it is tried again.
    for (let attempt = 1; ; attempt += 1) {
      const session = await h.db.pool.connect();
      try {
        await session.query('BEGIN');
        await session.query('LOCK TABLE packets, claims, transfers IN ACCESS EXCLUSIVE MODE');
        // Detached first: a packets partition is referenced by claims' foreign key until it leaves the table.
        for (const { parent, part } of rows) {
          await session.query(`ALTER TABLE ${parent} DETACH PARTITION ${part}`);
          await session.query(`DROP TABLE ${part}`);
        }
        await session.query('COMMIT');
        return;
      } catch (error) {
        await session.query('ROLLBACK');
        if ((error as { code?: string }).code !== '40P01' || attempt === 5) throw error;
      } finally {
        session.release();
      }
    }
  }

  const readiness = async () =>
    (await request(h.app()).get('/readyz')).body as { status: string; degraded: string[] };

  test('upkeep creates the days ahead, and is idempotent', async () => {
    await ensureDayPartitions(h.db);
    expect(await ensureDayPartitions(h.db)).toBe(0);
    const health = await dayPartitionHealth(h.db);
    expect(health).toMatchObject({ ok: true });
    expect(health.daysAhead).toBeGreaterThanOrEqual(DAY_PARTITIONS_AHEAD_DAYS);
    expect(await readiness()).toMatchObject({ status: 'ready', degraded: [] });
  });

  test('a lapsed upkeep is raised by readiness while sends still succeed, and the next upkeep clears it', async () => {
    await dropDaysAfterTomorrow();
    const health = await dayPartitionHealth(h.db);
    expect(health).toMatchObject({ ok: false, daysAhead: 1 });
    expect(DAY_PARTITIONS_ALARM_DAYS).toBeGreaterThan(health.daysAhead);
    // An alarm, not an outage: still ready, the partitions' shortfall named.
    expect(await readiness()).toMatchObject({ status: 'ready', degraded: ['day_partitions'] });
    // The send of today, and its open, go through.
    await fund(h, 'upkeep-sender', 300);
    const packet = await send(h, 'upkeep-sender', { type: 'fixed', amountFen: 300, count: 3 });
    expect(packet.packetId.startsWith(dayText(0))).toBe(true);
    expect(await ensureDayPartitions(h.db)).toBe(3 * (DAY_PARTITIONS_AHEAD_DAYS - 1));
    expect(await readiness()).toMatchObject({ status: 'ready', degraded: [] });
  });

  test('a scheduled run that cannot create the days reports day_partitions_short; the next one creates them', async () => {
    await dropDaysAfterTomorrow();
    // A session holding what an attach needs: the run's creation times out (lock_timeout), as in a long lapse.
    const blocker = await h.db.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE packets IN SHARE UPDATE EXCLUSIVE MODE');
      const startedMs = Date.now();
      expect(await ensureReconcileSchedule(h.temporal.client, h.config)).toBe('created');
      const { report } = await awaitScheduledRun(
        h.temporal.client,
        h.config.temporal.taskQueue,
        startedMs,
        (r) => r.countsByCheck[HealthCheck.DayPartitionsShort] === 1,
      );
      expect(linesOf(report, HealthCheck.DayPartitionsShort)[0]).toMatch(
        /only through \d{4}-\d{2}-\d{2} \(1 days ahead/,
      );
      expect(report.skipped.join('; ')).toMatch(/day partitions: .*lock timeout/);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    const releasedMs = Date.now();
    const { report } = await awaitScheduledRun(
      h.temporal.client,
      h.config.temporal.taskQueue,
      releasedMs,
      (r) => r.countsByCheck[HealthCheck.DayPartitionsShort] === 0,
    );
    // Creating a lapse's worth of days may take this short run's whole budget; the days are what count.
    expect(report.skipped.filter((line) => line.startsWith('day partitions'))).toEqual([]);
    expect((await dayPartitionHealth(h.db)).daysAhead).toBeGreaterThanOrEqual(DAY_PARTITIONS_AHEAD_DAYS);
  }, 60_000);
});
