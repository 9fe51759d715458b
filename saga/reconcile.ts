/**
 * The reconciler's contract (docs/reconciliation.md): the schedule and workflow names, its input, its report
 * and the query that returns it. The worker creates the schedule, each scheduled run is one workflow.
 */
import { defineQuery } from '@temporalio/workflow';

export const RECONCILE_WORKFLOW_TYPE = 'reconcileWorkflow';
/** One schedule per task queue (tests share a namespace, each file has its own task queue). */
export const RECONCILE_SCHEDULE_ID_PREFIX = 'reconcile-';
export const reconcileScheduleId = (taskQueue: string): string =>
  `${RECONCILE_SCHEDULE_ID_PREFIX}${taskQueue}`;

export interface ReconcileInput {
  /** The run stops starting new steps past this long, and says what it skipped. */
  budgetMs: number;
  /** Packets holding escrow (and undecided payments) the adoption step looks at per run. */
  adoptLimit: number;
}

/** What the adoption step of a run did (activities/adopt.ts), handed to the run's report. */
export interface AdoptionOutcome {
  /** Packets whose workflow this run started again (recovery mode). */
  adopted: string[];
  /** Payments nobody decided, refused (nothing had been paid). */
  resolvedPayments: string[];
  failed: { packetId: string; error: string }[];
}

/** The checks the reconciler reports beside the audit's (ledger/audit.ts AuditCheck). */
export const HealthCheck = {
  /** A claim set aside by a pump longer than CREDIT_STUCK_AFTER_MS. */
  CreditStuck: 'credit_stuck',
  /** A shard whose oldest uncredited claim waits longer than RECONCILE_PUMP_LAG_MS. */
  PumpLagging: 'pump_lagging',
  /** A stranded packet the adoption step could not start a workflow for (it tries again next run). */
  AdoptionFailed: 'adoption_failed',
  /** Day partitions ahead fewer than DAY_PARTITIONS_ALARM_DAYS (ledger/dayTables.ts): the upkeep is behind. */
  DayPartitionsShort: 'day_partitions_short',
  /** A day past the hot window that is not settled, so it stays live (ledger/coldDays.ts says why). */
  ColdDayUnsettled: 'cold_day_unsettled',
  /** A cold day whose archive step failed or did not match its snapshot; it stays cold and is retried. */
  ColdDayArchiveFailed: 'cold_day_archive_failed',
} as const;

export interface ReconcileViolation {
  check: string;
  /** Names the rows: packet, claim, account or transfer ids, as the audit writes them. */
  detail: string;
}

/** What a run changed: gates and caches it repaired, packets it adopted, payments it decided. */
export interface ReconcileRepair {
  kind: string;
  packetId: string;
}

export interface ReconcileReport {
  startedAtMs: number;
  durationMs: number;
  /** What the incremental audit covered: transfers (from, to], packets and accounts, carried ones included. */
  scope: { transfersFromSeq: number; transfersToSeq: number; packets: number; accounts: number };
  violationCount: number;
  /** Violations by check name, every known check listed (0 when clean), so a gauge can drop back to 0. */
  countsByCheck: Record<string, number>;
  violations: ReconcileViolation[];
  repairs: ReconcileRepair[];
  gatesChecked: number;
  /** Steps not run because the run went past its budget. */
  skipped: string[];
  /** Whether escrow_has_live_workflow ran, and on how many packets. */
  workflows: string;
  /** Days (YYYY-MM-DD) this run archived (docs/day-tables.md, "Cold days"). */
  archivedDays: string[];
}

export const reconcileReportQuery = defineQuery<ReconcileReport | null>('reconcileReport');
