/**
 * A crowd of HTTP clients for storm tests: each grabs a share and, when granted, opens it, and reports what
 * it saw (statuses, problem codes, the hold's degraded flag, the opened amount) so tests can count outcomes
 * exactly.
 */
import type { Harness } from './harness';

export interface Client {
  userId: string;
  token: string;
}

export interface Outcome {
  userId: string;
  grab: number;
  /** The hold's `degraded` flag, for a granted grab. */
  degraded?: boolean;
  /** The problem's code, for a refused grab. */
  grabCode?: string;
  open?: number;
  /** The opened share, for a 200 open. */
  openedFen?: number;
  /** The problem's code, for a refused open. */
  openCode?: string;
}

/** Runs `count` tasks with at most `concurrency` in flight. */
export async function pool<T>(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

/** `n` users named `<prefix><i>`, each with a token. */
export function crowdOf(h: Harness, prefix: string, n: number): Promise<Client[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => ({
      userId: `${prefix}${i}`,
      token: await h.tokenFor(`${prefix}${i}`),
    })),
  );
}

export async function grabThenOpen(url: string, packetId: string, client: Client): Promise<Outcome> {
  const headers = { authorization: `Bearer ${client.token}` };
  const grab = await fetch(`${url}/v1/packets/${packetId}/grab`, { method: 'POST', headers });
  const hold = (await grab.json()) as { degraded?: boolean; code?: string };
  if (grab.status !== 200) return { userId: client.userId, grab: grab.status, grabCode: hold.code };
  const open = await fetch(`${url}/v1/packets/${packetId}/open`, { method: 'POST', headers });
  const claim = (await open.json()) as { amountFen?: number; code?: string };
  return {
    userId: client.userId,
    grab: grab.status,
    degraded: hold.degraded,
    open: open.status,
    ...(open.status === 200 ? { openedFen: claim.amountFen } : { openCode: claim.code }),
  };
}

/** Outcomes counted by what each client saw, e.g. `grab 200 degraded, open 200`, for exact comparisons. */
export function summary(outcomes: readonly Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const grab = o.grab === 200 ? `grab 200${o.degraded ? ' degraded' : ''}` : `grab ${o.grab} ${o.grabCode}`;
    const open = o.open === undefined ? '' : o.open === 200 ? ', open 200' : `, open ${o.open} ${o.openCode}`;
    counts[grab + open] = (counts[grab + open] ?? 0) + 1;
  }
  return counts;
}
