/**
 * The API's router between cells (docs/cells.md "Routing"): any API process accepts any request, decides
 * which cell owns it, answers it here when this is the owner, and forwards it (forward.ts) otherwise.
 *
 *   - a packet's detail, grab and open: the cell in the packet id (domain/cells.ts cellOfPacketId)
 *   - a send, the balance, the bills and the sent list: the home of the token's user (homeCellOf)
 *   - a deposit: the home of the wallet it funds (the body's userId), decided once the body is parsed
 *   - the received list spans cells and is merged by its own route (received.ts); the rest is local
 *
 * Built only with more than one cell: a single-cell app mounts none of it. A request that is already
 * forwarded (it carries the internal token) is never forwarded again; if it reached a cell that does not own
 * it, the cells' maps disagree and it is refused 503 region_unavailable. The hot lane (hotLane.ts) asks only
 * `isForeignPacket` (one slice and compare) and hands a foreign packet's grab or open to these middlewares.
 */
import { internalTokenMatcher } from './internalToken';
import type { IncomingHttpHeaders } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import { USER_ID_PATTERN } from '../../domain/accounts';
import { cellOfPacketId, homeCellOf, packetIdNotOf } from '../../domain/cells';
import { bearerTokenOf, type AuthUser } from '../auth';
import type { AppContext } from '../context';
import { Problem, sendProblem } from '../problems';
import {
  answerHeaders,
  CELL_ORIGIN_HEADER,
  CELL_TOKEN_HEADER,
  createCellForwarder,
  type CellForwarder,
} from './forward';
import { regionUnavailable } from './unavailable';

export interface CellRouting {
  /** For the hot lane: true when the id does not name this cell (the middleware then decides). */
  isForeignPacket: (packetId: string) => boolean;
  /** First in the app, before the body is read: packet requests and the token user's own. */
  beforeBody: RequestHandler;
  /** After the JSON body is parsed: deposits, which go to the home of the wallet they fund. */
  afterBody: RequestHandler;
  /** True when a request carries this deployment's internal token (it comes from another cell). */
  fromCell(headers: IncomingHttpHeaders): boolean;
  forwarder: CellForwarder;
}

/** A request's owning cell: known now, known once the token is verified, or none (answered here). */
type Owner = string | undefined | Promise<string | undefined>;
/** The body to forward when the app has already parsed it (deposits), re-serialised as JSON. */
type BodyOf = (req: Request) => Buffer;

// Express matches routes case-insensitively and with an optional trailing slash; so does the router.
const PACKET_PATH = /^\/v1\/packets\/([^/]+)(?:\/(?:grab|open))?\/?$/i;
const SEND_PATH = /^\/v1\/packets\/?$/i;
const HOMED_GET_PATH = /^\/v1\/me\/(?:balance|bills|packets\/sent)\/?$/i;
const DEPOSIT_PATH = /^\/v1\/admin\/deposits\/?$/i;
// A cell's drain switch lives in that cell's database (docs/failover.md "Draining a cell").
const DRAIN_PATH = /^\/v1\/admin\/cells\/([a-z0-9]{1,8})\/drain\/?$/i;

export function createCellRouting(ctx: AppContext): CellRouting | undefined {
  const cells = ctx.config.cells;
  if (cells.all.length < 2) return undefined;
  const self = cells.self;
  const forwarder = createCellForwarder(cells);
  const isInternalToken = internalTokenMatcher(cells.internalToken);
  const fromCell = (headers: IncomingHttpHeaders): boolean => isInternalToken(headers[CELL_TOKEN_HEADER]);

  /** The home of the token's user; undefined (answered here, with its 401) when the token does not verify. */
  function homeOfToken(req: Request): Owner {
    const token = bearerTokenOf(req.headers.authorization);
    if (!token) return undefined;
    const home = (user: AuthUser) => homeCellOf(user.id, cells.all);
    try {
      const verified = ctx.verifyToken(token);
      return verified instanceof Promise ? verified.then(home, () => undefined) : home(verified);
    } catch {
      return undefined;
    }
  }

  function ownerBeforeBody(req: Request): Owner {
    const packet = PACKET_PATH.exec(req.path);
    if (packet) return cellOfPacketId(packet[1]!);
    const drain = DRAIN_PATH.exec(req.path);
    if (drain) return drain[1];
    if (req.method === 'POST' && SEND_PATH.test(req.path)) return homeOfToken(req);
    if (req.method === 'GET' && HOMED_GET_PATH.test(req.path)) return homeOfToken(req);
    return undefined;
  }

  /** Answers here, refuses a misrouted forwarded request, or forwards to the owner. */
  async function route(req: Request, res: Response, owner: string | undefined, bodyOf?: BodyOf) {
    if (owner === undefined || owner === self || !cells.all.includes(owner)) return false;
    if (fromCell(req.headers)) {
      const origin = String(req.headers[CELL_ORIGIN_HEADER] ?? 'unknown');
      throw regionUnavailable(owner, `Cell ${self} got from ${origin} a request that cell ${owner} owns.`);
    }
    try {
      const answer = await forwarder.call(owner, {
        method: req.method,
        path: req.originalUrl,
        headers: req.headers,
        body: bodyOf ? bodyOf(req) : await readRequest(req, ctx.config.http.bodyLimitBytes),
      });
      ctx.metrics.cellForwards.inc({ cell: owner, outcome: 'answered' });
      res.writeHead(answer.status, answerHeaders(answer.headers));
      answer.stream.pipe(res);
      answer.stream.on('error', () => res.destroy());
    } catch (err) {
      ctx.metrics.cellForwards.inc({ cell: owner, outcome: 'unavailable' });
      throw err;
    }
    return true;
  }

  const middleware =
    (ownerOf: (req: Request) => Owner, bodyOf?: BodyOf): RequestHandler =>
    (req, res, next) => {
      const owner = ownerOf(req);
      // Most requests have no owner to look for (health, docs, the received list): nothing more is done.
      if (owner === undefined || owner === self) return next();
      Promise.resolve(owner)
        .then((cell) => route(req, res, cell, bodyOf))
        .then(
          (answered) => {
            if (!answered) next();
          },
          (err: unknown) => {
            if (err instanceof Problem && !res.headersSent) return sendProblem(res, err, req.originalUrl);
            next(err);
          },
        );
    };

  const depositOwner = (req: Request): string | undefined => {
    if (req.method !== 'POST' || !DEPOSIT_PATH.test(req.path)) return undefined;
    const userId: unknown = (req.body as { userId?: unknown } | undefined)?.userId;
    // A body that names no valid user is refused here, by the route's own validation.
    return typeof userId === 'string' && USER_ID_PATTERN.test(userId)
      ? homeCellOf(userId, cells.all)
      : undefined;
  };

  return {
    isForeignPacket: (packetId) => packetIdNotOf(packetId, self),
    beforeBody: middleware(ownerBeforeBody),
    afterBody: middleware(depositOwner, (req) => Buffer.from(JSON.stringify(req.body), 'utf8')),
    fromCell,
    forwarder,
  };
}

/** The request's body, whole and bounded: what the owner's own body limit would accept. */
async function readRequest(req: Request, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req) {
    length += (chunk as Buffer).length;
    if (length > maxBytes) throw new Problem(413, 'body_too_large', 'Request body too large');
    chunks.push(chunk as Buffer);
  }
  return length === 0 ? undefined : Buffer.concat(chunks);
}
