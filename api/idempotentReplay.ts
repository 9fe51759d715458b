/**
 * Step 4 of the pipeline for POSTs: the Idempotency-Key header, and running a handler under it with Stripe
 * semantics: a stored answer is replayed (`Idempotent-Replayed: true`), a key still in flight answers 409,
 * a key reused with another body 422; a 5xx (or a 429 from a gate script) releases the key for a retry.
 */
import type { Request, Response } from 'express';
import type { AuthUser } from './auth';
import type { AppContext } from './context';
import { toProblem } from './errorMapping';
import { requestHash, type StoredResponse } from './idempotency';
import { Problem } from './problems';
import { problemOutgoing, send } from './reply';
import { IdempotencyKeySchema } from './validation';

export function idempotencyKeyOf(req: Request, mode: 'optional' | 'required'): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) {
    if (mode === 'optional') return undefined;
    throw new Problem(
      400,
      'idempotency_key_required',
      'Idempotency-Key required',
      'This POST needs an Idempotency-Key header.',
    );
  }
  const parsed = IdempotencyKeySchema.safeParse(raw);
  if (!parsed.success) {
    throw new Problem(
      400,
      'idempotency_key_invalid',
      'Invalid Idempotency-Key',
      'Use 1-255 printable ASCII characters.',
    );
  }
  return parsed.data;
}

/** Runs `run` under the key: replays a stored answer, refuses conflicts, stores what `run` answers. */
export async function idempotent(
  ctx: AppContext,
  req: Request,
  res: Response,
  user: AuthUser,
  key: string,
  run: () => Promise<StoredResponse>,
): Promise<void> {
  const begun = await ctx.idempotency.begin(user.id, key, requestHash(req.method, req.path, req.body));
  ctx.metrics.idempotency.inc({ outcome: begun.kind });
  if (begun.kind === 'replay') return send(res.set('Idempotent-Replayed', 'true'), begun.response);
  if (begun.kind === 'reused') {
    throw new Problem(
      422,
      'idempotency_key_reused',
      'Idempotency-Key reused',
      'This key was used with a different request.',
    );
  }
  if (begun.kind === 'in_flight') {
    throw new Problem(
      409,
      'idempotency_in_flight',
      'Request in flight',
      'The first request with this key is still running.',
    ).withHeader('Retry-After', '1');
  }
  let response: StoredResponse;
  try {
    response = await run();
  } catch (err) {
    const problem = toProblem(err);
    // A 429 from a gate script's limits is not the answer to this key: a retry must run again.
    if (!problem || problem.status >= 500 || problem.status === 429) {
      await ctx.idempotency.release(user.id, key, begun.ownerToken);
      throw err;
    }
    response = problemOutgoing(problem, req.originalUrl);
  }
  if (response.status >= 500) await ctx.idempotency.release(user.id, key, begun.ownerToken);
  else await ctx.idempotency.complete(user.id, key, begun.ownerToken, response);
  send(res, response);
}
