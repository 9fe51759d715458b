/**
 * Internal endpoints between cells (docs/cells.md, "Clearing between cells"): a packet cell's settle pump
 * posts cross-cell credits here (`POST /internal/v1/xcredits`, this cell being the recipients' home), and a
 * home cell asks what this cell still owes one of its users (`GET /internal/v1/xcredits/pending`). Mounted
 * only with more than one cell, in front of the public routes and outside the OpenAPI document: they are not
 * part of the public contract. Every call needs `Authorization: Bearer <CELL_INTERNAL_TOKEN>`, compared in
 * constant time; anything else is 401.
 */
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { USER_ID_PATTERN } from '../../domain/accounts';
import { internalTokenMatcher } from '../cells/internalToken';
import { XCREDITS_PATH, XCREDITS_PENDING_PATH } from '../../ledger/cellClient';
import { postXcredits, type XcreditResult } from '../../ledger/xcredits';
import { pendingForUser } from '../../packets/store/clearing';
import { bearerTokenOf } from '../auth';
import type { AppContext } from '../context';
import { Problem } from '../problems';

/** Items per delivered batch; the settle pump sends SETTLE_BATCH_MAX (at most this). */
export const XCREDIT_BATCH_ITEMS_MAX = 1_000;
/** A full batch is about 200 bytes an item; the public routes' body limit is far smaller. */
const INTERNAL_BODY_LIMIT_BYTES = 1024 * 1024;

const ItemSchema = z.strictObject({
  claimId: z.string().min(1).max(100),
  packetId: z.string().min(1).max(64),
  userId: z.string().min(1).max(64),
  // Its bounds are refusalOf's (ledger/xcredits.ts): a bad lane refuses its item, not the whole batch.
  lane: z.int(),
  amountFen: z.int(),
});
const BatchSchema = z.strictObject({
  fromCell: z.string().min(1).max(8),
  cells: z.array(z.string().min(1).max(8)).min(1).max(64).optional(),
  items: z.array(ItemSchema).min(1).max(XCREDIT_BATCH_ITEMS_MAX),
});

function internalGuard(token: string) {
  const isInternalToken = internalTokenMatcher(token);
  return (req: Request, _res: Response, next: NextFunction) => {
    if (isInternalToken(bearerTokenOf(req.headers.authorization))) return next();
    next(new Problem(401, 'unauthorized', 'Unauthorized', 'This endpoint is for other cells only.'));
  };
}

/** A configuration fault of the cells, not of an item: the whole batch waits, and nothing is parked. */
const cellsMismatch = (sender: readonly string[], own: readonly string[]) =>
  new Problem(
    503,
    'cells_mismatch',
    'Cells disagree',
    `The sender lists CELLS=${sender.join(',')}, this cell ${own.join(',')}: they would disagree on users' homes.`,
  );

const badRequest = (detail: string) => new Problem(400, 'invalid_request', 'Invalid request', detail);

export function internalRoutes(ctx: AppContext): Router {
  const router = Router();
  const { cells } = ctx.config;
  if (cells.all.length < 2 || !cells.internalToken) return router;
  const guard = internalGuard(cells.internalToken);

  router.post(
    XCREDITS_PATH,
    guard,
    express.json({ limit: INTERNAL_BODY_LIMIT_BYTES, strict: true }),
    (req, res, next) => {
      const parsed = BatchSchema.safeParse(req.body);
      if (!parsed.success) return next(badRequest(z.prettifyError(parsed.error)));
      const { fromCell, items, cells: senderCells } = parsed.data;
      if (senderCells && senderCells.join(',') !== cells.all.join(','))
        return next(cellsMismatch(senderCells, cells.all));
      postXcredits(ctx.db, cells, fromCell, items)
        .then((results) => {
          reportRefusals(ctx, fromCell, results);
          res.status(200).json({ results });
        })
        .catch(next);
    },
  );

  router.get(XCREDITS_PENDING_PATH, guard, (req, res, next) => {
    const userId = req.query['userId'];
    if (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId))
      return next(badRequest('userId: 1-64 letters, digits, _ or -'));
    pendingForUser(ctx.db, userId)
      .then((pendingFen) => res.status(200).json({ userId, pendingFen }))
      .catch(next);
  });
  return router;
}

/**
 * Counts every outcome, and logs each conflict and refusal as an error: the same claim id with other fields
 * means the two cells disagree about money, which someone must look at (docs/cells.md says how).
 */
function reportRefusals(ctx: AppContext, fromCell: string, results: readonly XcreditResult[]): void {
  for (const result of results) {
    ctx.metrics.xcredits.inc({ outcome: result.status });
    if (result.status === 'conflict' || result.status === 'refused') {
      ctx.log.error(
        { fromCell, claimId: result.claimId, outcome: result.status, reason: result.reason },
        'cross-cell credit not applied',
      );
    }
  }
}
