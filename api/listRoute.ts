/**
 * One keyset-paginated list of the token's user (`GET ?limit&cursor`): the packets sent, the shares received
 * and the bills differ only in their item schema, their position and their query, so each is declared with
 * `defineListRoute` and the paging rules (cursor, page depth under pressure) are applied here once.
 */
import type { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from './context';
import { pageOf, pageRequest } from './pagination';
import { defineRoute } from './pipeline';
import { PageQuerySchema } from './validation';

export interface ListRouteSpec<P extends z.ZodType, T> {
  path: string;
  summary: string;
  tags: string[];
  /** The schema of one item, and the OpenAPI id of the page that carries them. */
  item: z.ZodType;
  pageId: string;
  /** The response's description in the document. */
  description?: string;
  /** Where a page ends, as the cursor carries it (validated when a cursor comes back). */
  position: P;
  /** Fields a page carries besides its items and cursor (the bills' `archived`), with their schemas. */
  extra?: z.ZodRawShape;
  /** One page of `userId`'s list after `after`, and the position after its last item (null: no more). */
  list(
    userId: string,
    page: { limit: number; after: z.output<P> | undefined },
  ): Promise<{ items: T[]; next: z.output<P> | null; extra?: Record<string, unknown> }>;
}

export function defineListRoute<P extends z.ZodType, T>(
  ctx: AppContext,
  router: Router,
  spec: ListRouteSpec<P, T>,
): void {
  const pressure = { lists: ctx.config.lists, underPressure: ctx.underPressure };
  defineRoute(ctx, router, {
    method: 'get',
    path: spec.path,
    summary: spec.summary,
    tags: spec.tags,
    auth: 'user',
    query: PageQuerySchema,
    problems: [503],
    response: {
      status: 200,
      description: spec.description ?? 'one page',
      schema: z
        .object({ items: z.array(spec.item), nextCursor: z.string().nullable(), ...spec.extra })
        .meta({ id: spec.pageId }),
    },
    handler: async ({ user, query }) => {
      const page = pageRequest(spec.position, query, pressure);
      const result = await spec.list(user.id, { limit: page.limit, after: page.after });
      return { body: { ...pageOf(page, result.items, result.next), ...result.extra } };
    },
  });
}
