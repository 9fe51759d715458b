import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { selfCheck } = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3, initialInterval: '200 milliseconds' },
});

/** Runs one activity that touches Postgres and Redis; `npm run dev` and the platform test use it. */
export async function selfCheckWorkflow(
  marker: string,
): Promise<{ postgresMs: number; redisMs: number; serverVersion: string }> {
  return selfCheck(marker);
}
