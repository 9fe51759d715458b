/** Teardown of the cluster test run: the usual teardown, then both Temporal nodes stopped and their databases dropped. */
import type { TemporalCluster } from '../../scripts/lib/temporalCluster';
import globalTeardown from './globalTeardown';

export default async function clusterGlobalTeardown(): Promise<void> {
  try {
    await globalTeardown();
  } finally {
    await (globalThis as { __temporalCluster?: TemporalCluster }).__temporalCluster?.destroy();
  }
}
