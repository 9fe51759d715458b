/**
 * The cells this process knows (issue 27, docs/cells.md): its own cell, every cell's id, and how to reach the
 * others. Unset, the service is one cell named by REGION, as before cells existed.
 */
import { CELL_ID_PATTERN } from '../domain/cells';

export interface CellSettings {
  /** This process's cell: the region written into the packet ids it makes. */
  self: string;
  /** Every cell, in the order the home map (domain/cells.ts) splits buckets over them. */
  all: readonly string[];
  /** The entry URL (router or API) of each other cell. */
  urls: Readonly<Record<string, string>>;
  /** Shared secret of calls between cells (forwarded requests, cross-cell credits); undefined with one cell. */
  internalToken: string | undefined;
  /** Longest wait for another cell's answer before this one answers 503 region_unavailable. */
  forwardTimeoutMs: number;
}

/** The shortest internal token accepted: a guessable one would let anyone post credits between cells. */
const INTERNAL_TOKEN_MIN_LENGTH = 32;

/**
 * A per-cell setting, `a=x,b=y`, as a map from cell to value; an entry that names no cell of `cells` is a
 * problem naming `variable`. CELL_URLS here, CELL_DATABASE_URLS and CELL_DATABASE_SCHEMAS (clearing.ts).
 */
export function cellMap(
  variable: string,
  text: string | undefined,
  cells: readonly string[],
  problems: string[],
): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of (text ?? '').split(',').filter((part) => part.trim() !== '')) {
    const at = entry.indexOf('=');
    const cell = entry.slice(0, at).trim();
    if (at <= 0 || !cells.includes(cell))
      problems.push(`${variable}: ${JSON.stringify(entry)} does not start with a cell of CELLS and '='`);
    else map[cell] = entry.slice(at + 1).trim();
  }
  return map;
}

/**
 * Reads CELLS (`n,s`), CELL_URLS (`n=http://host:port,s=...`) and CELL_INTERNAL_TOKEN; returns the settings or
 * the list of problems, each naming its variable.
 */
export function parseCells(env: {
  REGION: string;
  CELLS?: string | undefined;
  CELL_URLS?: string | undefined;
  CELL_INTERNAL_TOKEN?: string | undefined;
  CELL_FORWARD_TIMEOUT_MS: number;
}): CellSettings | { problems: string[] } {
  const problems: string[] = [];
  const all = env.CELLS ? env.CELLS.split(',').map((cell) => cell.trim()) : [env.REGION];
  for (const cell of all) {
    if (!CELL_ID_PATTERN.test(cell)) problems.push(`CELLS: ${JSON.stringify(cell)} is not 1-8 of [a-z0-9]`);
  }
  if (new Set(all).size !== all.length) problems.push('CELLS: a cell is listed twice');
  if (!all.includes(env.REGION))
    problems.push(`REGION: ${env.REGION} is not one of CELLS (${all.join(',')})`);

  const urls: Record<string, string> = {};
  for (const [cell, url] of Object.entries(cellMap('CELL_URLS', env.CELL_URLS, all, problems))) {
    if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
      problems.push(`CELL_URLS: ${cell}'s ${JSON.stringify(url)} is not an http(s) URL`);
    else urls[cell] = url.replace(/\/+$/, '');
  }
  const others = all.filter((cell) => cell !== env.REGION);
  for (const cell of others) if (!urls[cell]) problems.push(`CELL_URLS: no URL for cell ${cell}`);
  const internalToken = env.CELL_INTERNAL_TOKEN || undefined;
  if (others.length > 0 && (internalToken?.length ?? 0) < INTERNAL_TOKEN_MIN_LENGTH) {
    problems.push(
      `CELL_INTERNAL_TOKEN: at least ${INTERNAL_TOKEN_MIN_LENGTH} characters with more than one cell`,
    );
  }
  if (problems.length > 0) return { problems };
  return { self: env.REGION, all, urls, internalToken, forwardTimeoutMs: env.CELL_FORWARD_TIMEOUT_MS };
}
