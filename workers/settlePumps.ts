/**
 * Starts the settle pumps (docs/cells.md), one workflow per other cell, in this cell's namespace
 * (startPump.ts: idempotent), called by every worker at start-up and by the keeper every interval. With one
 * cell there is nobody to settle with, and it starts nothing.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { settlePumpWorkflowId, type SettlePumpInput } from '../saga';
import { startPump } from './startPump';

export async function startSettlePumps(
  client: Client,
  config: Pick<Config, 'cells' | 'clearing' | 'credit' | 'temporal'>,
): Promise<string[]> {
  const ids: string[] = [];
  for (const homeCell of config.cells.all.filter((cell) => cell !== config.cells.self)) {
    const input: SettlePumpInput = {
      homeCell,
      stuckAfterMs: config.credit.stuckAfterMs,
      historyMaxEvents: config.credit.pumpHistoryMaxEvents,
    };
    const workflowId = settlePumpWorkflowId(config.clearing.pumpIdPrefix, homeCell);
    ids.push(await startPump(client, config.temporal.taskQueue, 'settlePumpWorkflow', workflowId, input));
  }
  return ids;
}
