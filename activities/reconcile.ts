/**
 * Reconcile: one scheduled run of the reconciler (workflows/reconcile.ts, docs/reconciliation.md). Audits what
 * changed since the watermark with the audit's own checks (scoped, ledger/auditScope.ts) plus the global
 * totals, repairs the gates and detail caches of the packets it looks at, reports stuck credits and lagging
 * pumps, clears CreditStuck flags whose "all through" report was lost, stores the report in Postgres and sets the worker's gauges. It moves no money.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { ReconcileSettings } from '../config';
import { AuditCheck, auditChecksWith, UNSCOPED_CHECKS } from '../ledger/audit';
import { PairCheck, type PairAuditReport } from '../ledger/pairAudit';
import { coldDayLines, runColdDays, type ColdDayRun } from '../ledger/coldDays';
import {
  analyzeRecentDays,
  dayPartitionAlarm,
  dayPartitionHealth,
  ensureDayPartitions,
} from '../ledger/dayTables';
import { readWindow, saveRun } from '../ledger/reconcileState';
import { reconcileGates, type GateReconciliation } from '../packets/gate/reconcileGates';
import { laggingShards, stuckCredits, type HealthLines } from '../packets/store/creditLag';
import { clearStaleStuckFlags } from '../packets/creditHealth';
import {
  creditHealthSignal,
  HealthCheck,
  packetWorkflowId,
  type AdoptionOutcome,
  type ReconcileInput,
  type ReconcileReport,
  type ReconcileViolation,
} from '../saga';
import type { ActivityDeps } from './index';

/** Where a run's figures go in the worker process that ran it (workers/metrics.ts). */
export interface ReconcileMetrics {
  record(report: ReconcileReport): void;
}

export interface ReconcileDeps {
  settings: ReconcileSettings;
  metrics?: ReconcileMetrics | undefined;
  /** For escrow_has_live_workflow; the worker's own client (the activity's context) when absent. */
  temporal?: Client | undefined;
  /**
   * The pair audit over every cell's database (docs/cells.md), when this worker has them all
   * (CELL_DATABASE_URLS); its violations join the run's report under their own check names.
   */
  pairAudit?: (() => Promise<PairAuditReport>) | undefined;
  /** The packet workflows' task queue; the activity's own when absent (they share the worker's queue). */
  taskQueue?: string | undefined;
}

/** Every check a report counts, so a check that clears reads 0 rather than vanishing. */
export const REPORTED_CHECKS: readonly string[] = [
  ...Object.values(AuditCheck),
  ...Object.values(HealthCheck),
  ...Object.values(PairCheck),
];

const MORE = /^\.\.\. and (\d+) more$/;

/** Violations per check; the audit's "... and N more" line stands for N. */
export function countByCheck(violations: readonly ReconcileViolation[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(REPORTED_CHECKS.map((check) => [check, 0]));
  for (const { check, detail } of violations) {
    const more = MORE.exec(detail);
    counts[check] = (counts[check] ?? 0) + (more ? Number(more[1]) : 1);
  }
  return counts;
}

const linesOf = (check: string, lines: HealthLines): ReconcileViolation[] => [
  ...lines.details.map((detail) => ({ check, detail })),
  ...(lines.total > lines.details.length
    ? [{ check, detail: `... and ${lines.total - lines.details.length} more` }]
    : []),
];

/** Clears the CreditStuck flags of this cell's packets whose "all through" report was lost. */
async function clearStaleFlags(reconcile: ReconcileDeps, db: ActivityDeps['db'], stuckAfterMs: number) {
  const client = reconcile.temporal ?? Context.current().client;
  const taskQueue = reconcile.taskQueue ?? Context.current().info.taskQueue;
  return clearStaleStuckFlags(db, client, taskQueue, stuckAfterMs, (packetId, stuck) =>
    client.workflow
      .getHandle(packetWorkflowId(packetId))
      .signal(creditHealthSignal, { stuck })
      .then(
        () => true,
        () => false, // closed since the list, or Temporal away: the next run looks again
      ),
  );
}

export const createReconcileActivities = ({ db, redis, credit, reconcile }: ActivityDeps) => ({
  async reconcile(input: ReconcileInput, adoption?: AdoptionOutcome): Promise<ReconcileReport> {
    if (!reconcile) {
      throw ApplicationFailure.nonRetryable('this worker was built without reconcile settings');
    }
    const { settings } = reconcile;
    const startedAtMs = Date.now();
    const overBudget = () => Date.now() - startedAtMs > input.budgetMs;
    const skipped: string[] = [];
    // The day partitions' upkeep rides on this schedule: the coming days are created here, ahead of need.
    await ensureDayPartitions(db).catch((err: unknown) =>
      skipped.push(`day partitions: ${err instanceof Error ? err.message : String(err)}`),
    );
    // And the cold days: settled days past the hot window leave the live tables (ledger/coldDays.ts).
    const cold: ColdDayRun = await runColdDays(db, settings.coldDays, input.budgetMs / 2).catch(
      (err: unknown) => {
        skipped.push(`cold days: ${err instanceof Error ? err.message : String(err)}`);
        return { archived: [], unsettled: [], failed: [] };
      },
    );
    // The audit joins the day tables whole: on fresh statistics of the days traffic is filling.
    await analyzeRecentDays(db).catch((err: unknown) =>
      skipped.push(`statistics: ${err instanceof Error ? err.message : String(err)}`),
    );
    const window = await readWindow(db);
    const audit = await db.withTransaction(
      async (tx) => {
        await tx.query('SET TRANSACTION READ ONLY');
        return auditChecksWith(tx, {
          scope: window.scope,
          thresholds: settings.audit,
          temporal: reconcile.temporal ?? Context.current().client,
        });
      },
      { isolation: 'repeatable read' },
    );
    let gates: GateReconciliation = { checked: 0, repairs: [], nextCursor: window.gateCursor };
    if (overBudget()) skipped.push('gates: over budget');
    else {
      try {
        gates = await reconcileGates(db, redis, {
          packetIds: window.scope.packetIds,
          cursor: window.gateCursor,
          openPerRun: settings.gatesPerRun,
        });
      } catch (err) {
        // Redis away: the gate waits for the next run; the money checks above stand on their own.
        skipped.push(`gates: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const health: ReconcileViolation[] = [
      ...dayPartitionAlarm(await dayPartitionHealth(db)).map((detail) => ({
        check: HealthCheck.DayPartitionsShort,
        detail,
      })),
      ...coldDayLines(cold),
    ];
    let flagsCleared: string[] = [];
    if (overBudget()) skipped.push('credit health: over budget');
    else {
      health.push(...linesOf(HealthCheck.CreditStuck, await stuckCredits(db, credit.stuckAfterMs)));
      health.push(
        ...linesOf(HealthCheck.PumpLagging, await laggingShards(db, credit.shards, settings.pumpLagMs)),
      );
      // Visibility away (or no task queue known): the flags wait for the next run; nothing here moves money.
      flagsCleared = await clearStaleFlags(reconcile, db, credit.stuckAfterMs).catch((err: unknown) => {
        skipped.push(`stale CreditStuck flags: ${err instanceof Error ? err.message : String(err)}`);
        return [];
      });
    }
    const pair: ReconcileViolation[] = [];
    if (reconcile.pairAudit) {
      if (overBudget()) skipped.push('pair audit: over budget');
      else {
        // Another cell's database away: the pair audit waits for the next run; this cell's checks stand.
        await reconcile
          .pairAudit()
          .then((report) => pair.push(...report.violations))
          .catch((err: unknown) =>
            skipped.push(`pair audit: ${err instanceof Error ? err.message : String(err)}`),
          );
      }
    }
    const adoptionFailures = (adoption?.failed ?? []).map(({ packetId, error }) => ({
      check: HealthCheck.AdoptionFailed,
      detail: `packet ${packetId}: ${error}`,
    }));
    const violations = [...audit.violations, ...health, ...pair, ...adoptionFailures];
    const countsByCheck = countByCheck(violations);
    const workflows = audit.workflows;
    const report: ReconcileReport = {
      startedAtMs,
      durationMs: Date.now() - startedAtMs,
      scope: {
        transfersFromSeq: window.scope.transfersAfterSeq,
        transfersToSeq: window.next.transferSeq,
        packets: window.scope.packetIds.length,
        accounts: window.scope.accountIds.length,
      },
      violationCount: Object.values(countsByCheck).reduce((sum, n) => sum + n, 0),
      countsByCheck,
      violations,
      repairs: [
        ...gates.repairs,
        ...(adoption?.adopted ?? []).map((packetId) => ({ kind: 'adopted', packetId })),
        ...(adoption?.resolvedPayments ?? []).map((packetId) => ({ kind: 'payment_refused', packetId })),
        ...flagsCleared.map((packetId) => ({ kind: 'stuck_flag_cleared', packetId })),
      ],
      gatesChecked: gates.checked,
      skipped,
      workflows:
        workflows?.status === 'checked'
          ? `checked ${workflows.checkedCount} of ${workflows.candidateCount} packets holding escrow`
          : `skipped: ${workflows?.reason ?? 'no Temporal client'}`,
      archivedDays: cold.archived,
    };
    await saveRun(db, window, {
      // Only what the scope found is carried; the unscoped checks look at everything every run anyway.
      violations: audit.violations.some((violation) => !UNSCOPED_CHECKS.has(violation.check)),
      gateCursor: gates.nextCursor,
      report,
    });
    reconcile.metrics?.record(report);
    return report;
  },
});
