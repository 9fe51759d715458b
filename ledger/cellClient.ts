/**
 * Calls between cells for clearing (docs/cells.md): a packet cell's settle pump delivers a batch of
 * cross-cell credits to the home cell, and a home cell asks a packet cell what it still owes one of its
 * users. Both go to the other cell's API (config.cells.urls) on its internal endpoints, authenticated by the
 * shared CELL_INTERNAL_TOKEN, and both are bounded by a timeout, so a cell that is down costs its caller the
 * timeout, never a hung request.
 */
import type { XcreditItem, XcreditResult } from './xcredits';

/** The internal endpoints; not in the public OpenAPI document (api/routes/internal.ts). */
export const XCREDITS_PATH = '/internal/v1/xcredits';
export const XCREDITS_PENDING_PATH = '/internal/v1/xcredits/pending';

export interface XcreditBatch {
  fromCell: string;
  /**
   * The sender's CELLS, in order: the home map splits buckets over them in that order, so two cells that list
   * them differently disagree on every user's home. The home cell refuses the whole batch then (503
   * `cells_mismatch`), and the pump retries and shows stuck, instead of each item being parked as "not homed
   * here". Optional, so a sender from before it was sent is still served during a rolling upgrade.
   */
  cells?: readonly string[];
  items: XcreditItem[];
}

/**
 * The other cell did not answer with a usable reply: down, slow or cut (`status` undefined), or an error
 * status (`status` set: the cell is up, and refused or failed this request).
 */
export class CellCallError extends Error {
  override readonly name = 'CellCallError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

async function call(url: string, init: RequestInit, token: string, timeoutMs: number): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      ...init,
      headers: { ...init.headers, authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new CellCallError(`${url} did not answer within ${timeoutMs} ms`, undefined, { cause: err });
  }
  const text = await response.text().catch((err: unknown) => {
    throw new CellCallError(`${url}: the answer was cut`, undefined, { cause: err });
  });
  if (response.status !== 200)
    throw new CellCallError(`${url} answered ${response.status}: ${text.slice(0, 300)}`, response.status);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CellCallError(`${url} answered something that is not JSON`, undefined, { cause: err });
  }
}

/** Delivers a batch to the home cell at `baseUrl`; its per-item results, in the batch's order. */
export async function deliverXcredits(
  baseUrl: string,
  token: string,
  batch: XcreditBatch,
  timeoutMs: number,
): Promise<XcreditResult[]> {
  const body = (await call(
    `${baseUrl}${XCREDITS_PATH}`,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch) },
    token,
    timeoutMs,
  )) as { results?: XcreditResult[] };
  const results = body.results;
  if (!Array.isArray(results) || results.length !== batch.items.length)
    throw new CellCallError(
      `${baseUrl} answered ${results?.length ?? 'no'} results for ${batch.items.length}`,
    );
  results.forEach((result, index) => {
    if (result.claimId !== batch.items[index]?.claimId)
      throw new CellCallError(`${baseUrl} answered results out of order`);
  });
  return results;
}

/** What the packet cell at `baseUrl` still owes `userId` (uncredited claims and undelivered credits). */
export async function pendingFrom(
  baseUrl: string,
  token: string,
  userId: string,
  timeoutMs: number,
): Promise<number> {
  const body = (await call(
    `${baseUrl}${XCREDITS_PENDING_PATH}?userId=${encodeURIComponent(userId)}`,
    { method: 'GET' },
    token,
    timeoutMs,
  )) as { pendingFen?: unknown };
  if (!Number.isSafeInteger(body.pendingFen)) throw new CellCallError(`${baseUrl} answered no pendingFen`);
  return body.pendingFen as number;
}
