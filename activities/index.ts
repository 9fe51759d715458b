/** Every activity the worker registers, built from the clients it closes over. */
import type { Db } from '../db';
import type { RedisDeps } from '../redis';
import { createPacketActivities } from './packets';
import { createSelfCheckActivities } from './selfCheck';

export interface ActivityDeps {
  db: Db;
  redis: RedisDeps;
}

export const createActivities = (deps: ActivityDeps) => ({
  ...createSelfCheckActivities(deps),
  ...createPacketActivities(deps),
});

export type Activities = ReturnType<typeof createActivities>;
