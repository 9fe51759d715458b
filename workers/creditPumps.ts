/**
 * Starts the credit pumps, one workflow per shard (startPump.ts: idempotent), so every worker calls this at
 * start-up and the pumps survive any restart.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { creditPumpWorkflowId, type CreditPumpInput } from '../saga';
import { startPump } from './startPump';

export async function startCreditPumps(
  client: Client,
  config: Pick<Config, 'credit' | 'temporal'>,
): Promise<string[]> {
  const ids: string[] = [];
  for (let shard = 0; shard < config.credit.shards; shard++) {
    const input: CreditPumpInput = {
      shard,
      stuckAfterMs: config.credit.stuckAfterMs,
      historyMaxEvents: config.credit.pumpHistoryMaxEvents,
    };
    const workflowId = creditPumpWorkflowId(config.credit.pumpIdPrefix, shard);
    ids.push(await startPump(client, config.temporal.taskQueue, 'creditPumpWorkflow', workflowId, input));
  }
  return ids;
}
