/** Every activity the worker registers, built from the clients it closes over. */
import type { CreditSettings } from '../config';
import type { Db } from '../db';
import type { RedisDeps } from '../redis';
import { createCreditActivities } from './credit';
import { createPacketActivities } from './packets';
import { createSelfCheckActivities } from './selfCheck';
import { createSettleActivities } from './settle';

export interface ActivityDeps {
  db: Db;
  redis: RedisDeps;
  credit: CreditSettings;
}

export const createActivities = (deps: ActivityDeps) => ({
  ...createSelfCheckActivities(deps),
  ...createPacketActivities(deps),
  ...createCreditActivities(deps),
  ...createSettleActivities(deps),
});

export type Activities = ReturnType<typeof createActivities>;
