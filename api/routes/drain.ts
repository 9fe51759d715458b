/**
 * The drain switch's admin endpoints (docs/failover.md "Draining a cell"): read and set whether a cell
 * refuses its home users' new sends. Admin token only; the change is recorded with the token's subject as
 * who made it (api/cells/drain.ts). With several cells the router forwards a request naming another cell
 * to that cell (api/cells/router.ts), whose own database holds its switch.
 */
import { Router } from 'express';
import { z } from 'zod';
import { CELL_ID_PATTERN } from '../../domain/cells';
import { drainHistory, drainProgress, readDrain, setDrain } from '../cells/drain';
import type { AppContext } from '../context';
import { defineRoute } from '../pipeline';
import { Problem } from '../problems';

const CellParams = z.strictObject({
  cell: z.string().regex(CELL_ID_PATTERN, 'cell ids are 1-8 lowercase letters or digits'),
});

const DrainBody = z
  .strictObject({
    drained: z.boolean(),
    reason: z.string().min(1).max(200).optional(),
  })
  .meta({ id: 'DrainRequest' });

const ChangeSchema = z.object({
  drained: z.boolean(),
  reason: z.string().nullable(),
  changedBy: z.string(),
  changedAt: z.iso.datetime(),
});

const DrainSchema = z
  .object({
    cell: z.string(),
    drained: z.boolean(),
    reason: z.string().nullable(),
    changedBy: z.string().nullable().meta({ description: 'The admin who last set it; null if never set' }),
    changedAt: z.iso.datetime().nullable(),
    history: z.array(ChangeSchema).meta({ description: 'The last ten changes, newest first' }),
    remaining: z
      .object({ openPackets: z.int(), uncreditedClaims: z.int(), undeliveredXcredits: z.int() })
      .meta({ description: 'What the cell still has to finish; all zero: it can be taken down' }),
  })
  .meta({ id: 'CellDrain' });

export function drainRoutes(ctx: AppContext): Router {
  const router = Router();
  const self = ctx.config.cells.self;

  /** Only the cell's own process answers for it; another cell's name reaching here is not a cell of ours. */
  const ownCell = (cell: string) => {
    if (cell !== self)
      throw new Problem(404, 'unknown_cell', 'Unknown cell', `This deployment has no cell ${cell}.`);
    return cell;
  };
  const withHistory = async (cell: string) => {
    const [state, history, remaining] = await Promise.all([
      readDrain(ctx.db, cell),
      drainHistory(ctx.db, cell),
      drainProgress(ctx.db),
    ]);
    return { ...state, history, remaining };
  };

  defineRoute(ctx, router, {
    method: 'get',
    path: '/v1/admin/cells/:cell/drain',
    summary: "Read a cell's drain switch and its recent changes",
    tags: ['admin'],
    auth: 'admin',
    params: CellParams,
    problems: [404],
    response: { status: 200, description: 'the switch', schema: DrainSchema },
    handler: async ({ params }) => ({ body: await withHistory(ownCell(params.cell)) }),
  });

  defineRoute(ctx, router, {
    method: 'post',
    path: '/v1/admin/cells/:cell/drain',
    summary: "Drain or undrain a cell: while drained, its home users' new sends are refused",
    description:
      'While drained, POST /v1/packets by a user homed in the cell answers 503 region_unavailable with Retry-After; grabs and opens of its packets go on. Every API process sees a change within one second. The change is recorded with the admin who made it.',
    tags: ['admin'],
    auth: 'admin',
    params: CellParams,
    body: DrainBody,
    idempotency: 'optional',
    problems: [404],
    response: { status: 200, description: 'the switch after the change', schema: DrainSchema },
    handler: async ({ params, body, user, log }) => {
      const cell = ownCell(params.cell);
      await setDrain(ctx.db, cell, {
        drained: body.drained,
        reason: body.reason ?? null,
        changedBy: user.id,
      });
      ctx.drain.invalidate();
      log.warn(
        { cell, drained: body.drained, by: user.id, reason: body.reason },
        'cell drain switch changed',
      );
      return { body: await withHistory(cell) };
    },
  });

  return router;
}
