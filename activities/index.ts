/**
 * Every activity the worker registers, built from the clients it closes over: one file per act of the saga
 * (pay, arm, credit, settle and refund), the reconciler's run, the adoption of orphaned packets and the
 * deployment self-check.
 */
import type { CellSettings, ClearingSettings, CreditSettings } from '../config';
import type { Db } from '../db';
import type { RedisDeps } from '../redis';
import { createAdoptActivities } from './adopt';
import { createCreditActivities } from './credit';
import { createCreditRetryActivities } from './creditRetryNow';
import type { CreditPumpMetrics } from './creditPumpMetrics';
import { createGateActivities } from './gate';
import { createPaymentActivities } from './payment';
import { createReconcileActivities, type ReconcileDeps } from './reconcile';
import { createSelfCheckActivities } from './selfCheck';
import { createSettleActivities } from './settle';
import { createSettlePumpActivities } from './settlePump';

export interface ActivityDeps {
  db: Db;
  redis: RedisDeps;
  credit: CreditSettings;
  /** The cells (config.cells); undefined or one cell: every claim is credited to a wallet here. */
  cells?: CellSettings | undefined;
  /** The settle pumps' settings (config.clearing); a worker without them refuses settle runs. */
  clearing?: ClearingSettings | undefined;
  /** The reconciler's settings and gauges; a worker without them refuses its runs. */
  reconcile?: ReconcileDeps | undefined;
  /** The credit pumps' gauges and histograms (workers/pumpMetrics.ts); without them nothing is recorded. */
  pumpMetrics?: CreditPumpMetrics | undefined;
}

export const createActivities = (deps: ActivityDeps) => ({
  ...createSelfCheckActivities(deps),
  ...createPaymentActivities(deps),
  ...createGateActivities(deps),
  ...createCreditActivities(deps),
  ...createCreditRetryActivities(deps),
  ...createSettleActivities(deps),
  ...createSettlePumpActivities(deps),
  ...createAdoptActivities(deps),
  ...createReconcileActivities(deps),
});

export type Activities = ReturnType<typeof createActivities>;
