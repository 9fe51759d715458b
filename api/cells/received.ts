/**
 * The received list across cells (docs/cells.md "Received list across cells"). A user's claims live in the
 * cells of the packets they opened, so with more than one cell the list asks every cell for one page after
 * the same position (its own Postgres directly, the others through an internal call that answers only their
 * own part, with each item's position) and merges the pages newest first. A position (created_at in
 * microseconds, claim id) orders claims across cells as it does within one, and claim ids carry their
 * packet id, so they are unique across cells: one cursor serves every cell, and the merged page ends at the
 * position of its last item.
 *
 * A cell that cannot answer does not fail the list: the page holds what the other cells hold and names the
 * missing cells in `missingCells`. Its claims in that page's range are not shown, and paging on from a
 * partial page does not go back for them; a client that needs them all reads from the first page again
 * once `missingCells` is empty. Only when no cell answers is the list 503 region_unavailable.
 */
import type { Router } from 'express';
import { z } from 'zod';
import { listReceivedClaims, type ListPosition, type ReceivedClaim } from '../../packets/store/lists';
import type { AppContext } from '../context';
import { pageOf, pageRequest, type PageRequest } from '../pagination';
import { defineRoute } from '../pipeline';
import { PageQuerySchema } from '../validation';
import { readBody } from './forward';
import type { CellRouting } from './router';
import { isDependencyDown, regionUnavailable } from './unavailable';

/** Asks the receiving cell for its own part only (with the internal token; ignored without it). */
export const CELL_SCOPE_HEADER = 'x-rp-cell-scope';
const LOCAL_SCOPE = 'local';
/** A page of at most LIST_PAGE_MAX claims is tens of kilobytes; anything far larger is not a page. */
const PART_MAX_BYTES = 1_048_576;

interface CellPart {
  items: ReceivedClaim[];
  positions: ListPosition[];
  more: boolean;
}

/** Newest first: created_at, then id, both descending, the order of the claims_user index. */
function newerFirst(a: ListPosition, b: ListPosition): number {
  if (a.createdUs !== b.createdUs) return b.createdUs - a.createdUs;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** The newest `limit` items of several cells' pages, and where the merged page ends (null: nothing more). */
export function mergeParts(
  parts: CellPart[],
  limit: number,
): { items: ReceivedClaim[]; next: ListPosition | null } {
  const all = parts.flatMap((part) =>
    part.items.map((item, index) => ({ item, position: part.positions[index]! })),
  );
  all.sort((a, b) => newerFirst(a.position, b.position));
  const taken = all.slice(0, limit);
  const more = all.length > limit || parts.some((part) => part.more);
  const last = taken[taken.length - 1];
  return { items: taken.map((entry) => entry.item), next: more && last ? last.position : null };
}

export interface ReceivedRouteSpec {
  path: string;
  summary: string;
  tags: string[];
  item: z.ZodType;
  pageId: string;
  position: z.ZodType<ListPosition>;
}

export function defineReceivedAcrossCells(
  ctx: AppContext,
  router: Router,
  routing: CellRouting,
  spec: ReceivedRouteSpec,
): void {
  const { self, all } = ctx.config.cells;
  const pressure = { lists: ctx.config.lists, underPressure: ctx.underPressure };
  const PartAnswer = z.object({
    items: z.array(z.unknown()),
    positions: z.array(spec.position),
    nextCursor: z.string().nullable(),
  });

  const localPart = async (userId: string, page: PageRequest<ListPosition>): Promise<CellPart> => {
    const local = await listReceivedClaims(ctx.db, userId, page);
    return { items: local.items, positions: local.positions, more: local.next !== null };
  };

  async function remotePart(cell: string, authorization: string, query: string): Promise<CellPart> {
    const answer = await routing.forwarder.call(cell, {
      method: 'GET',
      path: `${spec.path}${query}`,
      headers: { authorization, [CELL_SCOPE_HEADER]: LOCAL_SCOPE },
    });
    const body = await readBody(answer, PART_MAX_BYTES);
    if (answer.status !== 200) throw new Error(`cell ${cell} answered ${answer.status}: ${body.toString()}`);
    const part = PartAnswer.parse(JSON.parse(body.toString('utf8')));
    if (part.items.length !== part.positions.length) throw new Error(`cell ${cell}: items without positions`);
    return {
      items: part.items as ReceivedClaim[],
      positions: part.positions,
      more: part.nextCursor !== null,
    };
  }

  defineRoute(ctx, router, {
    method: 'get',
    path: spec.path,
    summary: spec.summary,
    description:
      'Merged newest first from every cell. A cell that cannot answer is named in missingCells and its ' +
      'claims are left out of the page; 503 region_unavailable only when no cell answers.',
    tags: spec.tags,
    auth: 'user',
    query: PageQuerySchema,
    problems: [503],
    response: {
      status: 200,
      description: 'one page, merged across cells',
      schema: z
        .object({
          items: z.array(spec.item),
          nextCursor: z.string().nullable(),
          missingCells: z.array(z.string()).meta({ description: 'Cells whose claims this page lacks' }),
        })
        .meta({ id: spec.pageId }),
    },
    handler: async ({ user, query, req, log }) => {
      const page = pageRequest(spec.position, query, pressure);
      if (req.headers[CELL_SCOPE_HEADER] === LOCAL_SCOPE && routing.fromCell(req.headers)) {
        const local = await listReceivedClaims(ctx.db, user.id, page);
        return { body: { ...pageOf(page, local.items, local.next), positions: local.positions } };
      }
      const search = new URLSearchParams({ limit: String(page.limit) });
      if (query.cursor !== undefined) search.set('cursor', query.cursor);
      const authorization = req.headers.authorization ?? '';
      const settled = await Promise.allSettled(
        all.map((cell) =>
          cell === self ? localPart(user.id, page) : remotePart(cell, authorization, `?${search.toString()}`),
        ),
      );
      const parts: CellPart[] = [];
      const missingCells: string[] = [];
      settled.forEach((outcome, index) => {
        if (outcome.status === 'fulfilled') return parts.push(outcome.value);
        const cell = all[index]!;
        // This cell's own part fails like any request when its database fails for another reason.
        if (cell === self && !isDependencyDown(outcome.reason)) throw outcome.reason;
        log.warn({ err: outcome.reason, cell }, 'received list: a cell did not answer its part');
        missingCells.push(cell);
      });
      if (parts.length === 0) throw regionUnavailable(self, 'No cell could answer the received list.');
      const merged = mergeParts(parts, page.limit);
      return { body: { ...pageOf(page, merged.items, merged.next), missingCells } };
    },
  });
}
