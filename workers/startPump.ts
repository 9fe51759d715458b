/**
 * Starts one long-lived pump workflow (a credit pump or a settle pump) unless it runs already: a running
 * pump is left alone (USE_EXISTING), one that ended (terminated by an operator) starts afresh
 * (ALLOW_DUPLICATE). So every worker may call it at start-up, and the keeper every interval.
 */
import type { Client } from '@temporalio/client';

export async function startPump<I>(
  client: Client,
  taskQueue: string,
  workflowType: 'creditPumpWorkflow' | 'settlePumpWorkflow',
  workflowId: string,
  input: I,
): Promise<string> {
  await client.workflow.start(workflowType, {
    workflowId,
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
  return workflowId;
}
