/**
 * Everything that crosses the workflow boundary: ids, inputs and results, the update, the signals and the
 * queries, defined once (saga/index.ts) so the use cases (packets/send.ts starts and updates the workflow),
 * the activities, the workers, the workflows and the tests agree.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ValidSend } from '../domain/limits';
import type { RetryNowRecord } from './retryNow';

export const PACKET_WORKFLOW_ID_PREFIX = 'packet-';
export const packetWorkflowId = (packetId: string): string => `${PACKET_WORKFLOW_ID_PREFIX}${packetId}`;

/** A validated send (domain/limits.ts) with its id, sender and absolute expiry. */
export interface PacketInput extends Omit<ValidSend, 'expiresInSeconds'> {
  packetId: string;
  senderId: string;
  expiresAtMs: number;
  /**
   * Identifies the send that owns this packet id (a hash of the sender, the Idempotency-Key and the request):
   * a payment attempt or a send that reaches a packet with another fingerprint reached someone else's packet.
   * Absent in inputs of workflows started before it existed.
   */
  fingerprint?: string | undefined;
  /** A credit that has kept failing this long sets CreditStuck. */
  creditStuckAfterMs: number;
  /**
   * Timing of a closed packet's re-checks while it owes credits (named for the sweep of the retired credit
   * waves; running workflows' inputs carry it); production leaves it unset (RECHECK_BASE_MS, RECHECK_MAX_MS
   * in workflows/packetSettle.ts), tests scale it down.
   */
  sweep?: { baseMs: number; maxMs: number } | undefined;
  /**
   * Continue-as-new past this many events while settling or waiting for owed credits; production leaves it
   * unset (HISTORY_EVENTS_BEFORE_CONTINUE in workflows/packetSettle.ts), tests scale it down.
   */
  historyMaxEvents?: number | undefined;
}

export interface PaidPacket {
  packetId: string;
  senderId: string;
  totalFen: number;
  count: number;
  expiresAtMs: number;
  fingerprint?: string | undefined;
}

/** What a packet workflow returns once its packet is finished. */
export interface PacketResult {
  packetId: string;
  creditedCount: number;
  creditedFen: number;
  refundFen: number;
}

/** What the pay update answers, for the packet a workflow was started with. */
export function paidPacketOf(input: PacketInput): PaidPacket {
  const { packetId, senderId, totalFen, count, expiresAtMs, fingerprint } = input;
  return { packetId, senderId, totalFen, count, expiresAtMs, fingerprint };
}

/** One opened share that the workflow has heard is owed a credit (a hint; Postgres is the truth). */
export interface ClaimNotice {
  claimId: string;
  userId: string;
  amountFen: number;
  openedAtMs: number;
}

/** CLOSED: refunded, opens refused, some credits still owed (the pumps finish the packet after the last). */
export type PacketPhase = 'PAYING' | 'OPEN' | 'SETTLING' | 'CLOSED' | 'FINISHED' | 'FAILED';

export interface WaitingCredit extends ClaimNotice {
  sinceMs: number;
  lastError: string | null;
}

export interface PacketView {
  packetId: string;
  phase: PacketPhase;
  senderId: string;
  totalFen: number;
  count: number;
  expiresAtMs: number;
  creditedCount: number;
  creditedFen: number;
  refundFen: number | null;
  creditStuck: boolean;
  failingSinceMs: number | null;
  lastError: string | null;
  /** Claims whose credit the pump reports stuck, as far as the workflow has heard. */
  waiting: WaitingCredit[];
}

/**
 * A packet's view before anything has happened to it: what a new workflow starts from, and what an adopted
 * one (packets/adopt.ts) starts from before it adds what Postgres says happened since.
 */
export function freshPacketView(input: PacketInput): PacketView {
  return {
    packetId: input.packetId,
    phase: 'PAYING',
    senderId: input.senderId,
    totalFen: input.totalFen,
    count: input.count,
    expiresAtMs: input.expiresAtMs,
    creditedCount: 0,
    creditedFen: 0,
    refundFen: null,
    creditStuck: false,
    failingSinceMs: null,
    lastError: null,
    waiting: [],
  };
}

/** Update-with-Start target: returns once payment committed, or fails with InsufficientFunds. */
export const payUpdate = defineUpdate<PaidPacket>('pay');
export const packetViewQuery = defineQuery<PacketView>('packetView');

/** One credit the pump has failed to make for longer than CREDIT_STUCK_AFTER_MS. */
export interface StuckCredit {
  claimId: string;
  userId: string;
  amountFen: number;
  sinceMs: number;
  lastError: string;
}

/** From a credit pump: every share of the packet is claimed and credited. */
export const allCreditedSignal = defineSignal('allCredited');
/** From a credit pump: the packet's stuck credits now (an empty list clears CreditStuck). */
export const creditHealthSignal = defineSignal<[{ stuck: StuckCredit[] }]>('creditHealth');

export const creditPumpWorkflowId = (prefix: string, shard: number): string => `${prefix}${shard}`;

export interface CreditPumpInput {
  shard: number;
  /** Failing this long to credit anything sets CreditStuck on the pump. */
  stuckAfterMs: number;
  /** A fresh run (continue-as-new) past this many events, or when Temporal suggests it first. */
  historyMaxEvents: number;
}

/** What one run of the pump's activity did (and the pump's totals, carried across continue-as-new). */
export interface CreditPumpRun {
  batches: number;
  credited: number;
  creditedFen: number;
  setAside: number;
  largestBatch: number;
  /** Uncredited claims of the shard when the run ended. */
  backlog: number;
}

export interface CreditPumpView {
  shard: number;
  runs: number;
  totals: CreditPumpRun;
  creditStuck: boolean;
  failingSinceMs: number | null;
  lastError: string | null;
  /** The last retry-now request (saga/retryNow.ts); absent until one is made. */
  lastRetryNow?: RetryNowRecord;
}

export const creditPumpViewQuery = defineQuery<CreditPumpView>('creditPumpView');

/** A settle pump (docs/cells.md): delivers this cell's outbox of cross-cell credits to one home cell. */
export const settlePumpWorkflowId = (prefix: string, homeCell: string): string => `${prefix}${homeCell}`;

export interface SettlePumpInput {
  homeCell: string;
  /** Failing this long to deliver (or holding a refused row) sets the pump's stuck flag. */
  stuckAfterMs: number;
  historyMaxEvents: number;
}

/** What one run of `runSettlePump` did. */
export interface SettlePumpRun {
  batches: number;
  /** Rows the home cell applied now, and rows it had applied before (a resend). */
  applied: number;
  replayed: number;
  /** Rows it refused in this run (parked, not resent). */
  refused: number;
  /** Undelivered rows when the run ended, and how many of them are held (refused, or failing alone). */
  backlog: number;
  parked: number;
}

export interface SettlePumpView {
  homeCell: string;
  runs: number;
  totals: SettlePumpRun;
  stuck: boolean;
  failingSinceMs: number | null;
  lastError: string | null;
}

export const settlePumpViewQuery = defineQuery<SettlePumpView>('settlePumpView');
