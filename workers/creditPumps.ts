/**
 * Starts the credit pumps, one workflow per shard. Idempotent: a pump that is running is left alone
 * (USE_EXISTING), one that ended (terminated by an operator) starts afresh, so every worker calls this at
 * start-up and the pumps survive any restart.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { creditPumpWorkflowId } from '../saga';
import type { creditPumpWorkflow } from '../workflows/creditPump';

export async function startCreditPumps(
  client: Client,
  config: Pick<Config, 'credit' | 'temporal'>,
): Promise<string[]> {
  const ids: string[] = [];
  for (let shard = 0; shard < config.credit.shards; shard++) {
    const workflowId = creditPumpWorkflowId(config.credit.pumpIdPrefix, shard);
    await client.workflow.start<typeof creditPumpWorkflow>('creditPumpWorkflow', {
      workflowId,
      taskQueue: config.temporal.taskQueue,
      args: [
        {
          shard,
          stuckAfterMs: config.credit.stuckAfterMs,
          historyMaxEvents: config.credit.pumpHistoryMaxEvents,
        },
      ],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    ids.push(workflowId);
  }
  return ids;
}
