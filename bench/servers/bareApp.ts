/**
 * The bare references: Express with no middleware at all (no auth, no body parsing, no logging, no metrics,
 * no rate limits), the user named by an `x-user-id` header. `/grab/:id` makes the service's grab call (the
 * grabShare Lua script); `/traditional/:id` runs the traditional design's transaction. They show what the
 * machine gives a request that does only the essential work.
 */
import express, { type Express } from 'express';
import type { Db } from '../../db';
import { isDomainError } from '../../domain/errors';
import type { RedisDeps } from '../../redis';
import { traditionalGrab } from '../traditional';
import { GATE_EXPIRY_GRACE_MS } from '../../packets/gate/gate';

const REFUSAL_STATUS: Record<string, number> = {
  packet_exhausted: 409,
  already_claimed: 409,
  packet_expired: 410,
  packet_not_found: 404,
};

export function bareApp(deps: { db: Db; redis: RedisDeps; holdMs: number }): Express {
  const { db, redis, holdMs } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  app.post('/grab/:id', async (req, res) => {
    const packetId = req.params.id;
    const userId = req.get('x-user-id') ?? 'anonymous';
    const { keys, scripts } = redis;
    const [status, holdExpiresAtMs, remaining] = await scripts.grabShare(
      ...keys.gateScript(packetId),
      userId,
      holdMs,
      GATE_EXPIRY_GRACE_MS,
    );
    res.status(status === 1 ? 200 : 409).json({ status, holdExpiresAtMs, remaining });
  });

  app.post('/traditional/:id', async (req, res) => {
    try {
      res.json(await traditionalGrab(db, req.params.id, req.get('x-user-id') ?? 'anonymous'));
    } catch (err) {
      if (!isDomainError(err)) throw err;
      res.status(REFUSAL_STATUS[err.code] ?? 422).json({ code: err.code });
    }
  });
  return app;
}
