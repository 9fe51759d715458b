/**
 * What `npm run retry-credits` does (scripts/retryCredits.ts, docs/credit-pump.md "Retry a stuck credit
 * now"), apart from its process: sends the `retryNow` update to the credit pumps of the configured cell.
 * A packet's claims are spread over shards by its hash, so one packet goes to the pump of its shard (the hash
 * is Postgres' own, asked of the cell's database) and "all" goes to every pump of the cell. A packet of
 * another cell is refused with what to run instead: each cell has its own namespace and pumps.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { CellSettings, CreditSettings } from '../../config';
import type { Queryable } from '../../db';
import { cellOfPacketId } from '../../domain/cells';
import { PACKET_ID_PATTERN } from '../../packets/gate/ids';
import { packetShardHash } from '../../packets/store/creditFailures';
import { shardOfHash } from '../../packets/store/credits';
import { creditPumpWorkflowId, retryNowProblem, retryNowUpdate, type RetryNowOutcome } from '../../saga';

/** The longest wait for one pump's answer: the activity watches for 5 s; no worker at all never answers. */
export const RETRY_CREDITS_TIMEOUT_MS = 30_000;

export interface PumpAnswer {
  workflowId: string;
  shard: number;
  outcome?: RetryNowOutcome;
  /** Why this pump gave no outcome. */
  error?: string;
}

export interface RetryCreditsDeps {
  client: Client;
  /** This cell's database: only asked for a packet's shard, when there is more than one. */
  db: Queryable;
  credit: Pick<CreditSettings, 'shards' | 'pumpIdPrefix'>;
  cells: Pick<CellSettings, 'self'>;
}

/** The shards to ask: the packet's, or every one. Throws a message for the operator when it cannot be. */
async function shardsFor(deps: RetryCreditsDeps, packetId: string | undefined): Promise<number[]> {
  if (packetId === undefined) return Array.from({ length: deps.credit.shards }, (_, shard) => shard);
  const problem = retryNowProblem({ packetId });
  if (problem !== undefined) throw new Error(problem);
  const cell = PACKET_ID_PATTERN.test(packetId) ? cellOfPacketId(packetId) : undefined;
  if (cell !== undefined && cell !== deps.cells.self)
    throw new Error(
      `packet ${packetId} is cell ${cell}'s, and these settings are cell ${deps.cells.self}'s: run this with ` +
        `cell ${cell}'s settings (REGION, TEMPORAL_NAMESPACE, DATABASE_URL; in dev mode REGION=${cell} ` +
        `TEMPORAL_NAMESPACE=rp-${cell} and its database)`,
    );
  if (deps.credit.shards === 1) return [0];
  const hash = await packetShardHash(deps.db, packetId);
  if (hash === undefined) throw new Error(`no packet ${packetId} in this cell's database`);
  return [shardOfHash(hash, deps.credit.shards)];
}

function messageOf(err: unknown, workflowId: string): string {
  if (err instanceof WorkflowUpdateFailedError) return err.cause?.message ?? err.message;
  if (err instanceof WorkflowNotFoundError)
    return `${workflowId} is not running: a worker starts the pumps (npm run dev, npm start)`;
  if (!(err instanceof Error)) return String(err);
  // The client's errors wrap the gRPC one ("Workflow Update failed" over "14 UNAVAILABLE: ..."): say both.
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}

/** Asks the pumps; one answer per pump, in shard order. */
export async function retryCredits(
  deps: RetryCreditsDeps,
  packetId?: string,
  timeoutMs = RETRY_CREDITS_TIMEOUT_MS,
): Promise<PumpAnswer[]> {
  const shards = await shardsFor(deps, packetId);
  return Promise.all(
    shards.map(async (shard): Promise<PumpAnswer> => {
      const workflowId = creditPumpWorkflowId(deps.credit.pumpIdPrefix, shard);
      try {
        const outcome = await deps.client.withDeadline(Date.now() + timeoutMs, () =>
          deps.client.workflow
            .getHandle(workflowId)
            .executeUpdate(retryNowUpdate, { args: [packetId === undefined ? {} : { packetId }] }),
        );
        return { workflowId, shard, outcome };
      } catch (err) {
        return { workflowId, shard, error: messageOf(err, workflowId) };
      }
    }),
  );
}

/** One line per pump and a total; `ok` when every pump answered and every claim made due was credited. */
export function describeAnswers(answers: readonly PumpAnswer[]): { lines: string[]; exitCode: number } {
  const lines: string[] = [];
  const total = { madeDue: 0, credited: 0, failedAgain: 0, stillDue: 0 };
  let failed = false;
  for (const answer of answers) {
    const o = answer.outcome;
    if (!o) {
      failed = true;
      lines.push(`${answer.workflowId}: FAILED: ${answer.error ?? 'no answer'}`);
      continue;
    }
    total.madeDue += o.madeDue;
    total.credited += o.credited;
    total.failedAgain += o.failedAgain;
    total.stillDue += o.stillDue;
    lines.push(
      o.madeDue === 0
        ? `${answer.workflowId}: nothing set aside${o.packetId ? ` for packet ${o.packetId}` : ''}`
        : `${answer.workflowId}: ${o.madeDue} made due, ${o.credited} credited, ${o.failedAgain} failed again` +
            `, ${o.stillDue} still due after ${o.watchedMs} ms` +
            (o.lastError ? ` (last error: ${o.lastError})` : ''),
    );
  }
  if (answers.length > 1)
    lines.push(
      `total: ${total.madeDue} made due, ${total.credited} credited, ${total.failedAgain} failed again, ` +
        `${total.stillDue} still due`,
    );
  // 1: a pump did not answer; 2: every pump answered but some claims are not credited (yet).
  const exitCode = failed ? 1 : total.failedAgain + total.stillDue > 0 ? 2 : 0;
  return { lines, exitCode };
}
