/**
 * LISTEN on one Postgres channel with a dedicated pooled client. A notification is only a wake-up: the
 * caller also polls, so a dropped connection or a lost notification costs at most one poll interval.
 */
import type { Notification, PoolClient } from 'pg';
import type { Db } from './index';

export interface Listener {
  /** Resolves at the first notification since the previous wait, at the timeout, or when aborted. */
  wait(timeoutMs: number, abort?: AbortSignal): Promise<void>;
  /** False once the connection broke: the caller is polling only. */
  readonly alive: boolean;
  close(): Promise<void>;
}

/** Channel names are identifiers; quoting keeps schema-derived names valid. */
const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export async function listen(
  db: Db,
  channel: string,
  accept: (payload: string | undefined) => boolean = () => true,
): Promise<Listener> {
  const client: PoolClient = await db.pool.connect();
  let pending = false;
  let alive = true;
  let wake: (() => void) | undefined;
  const onNotification = (message: Notification) => {
    if (message.channel !== channel || !accept(message.payload)) return;
    pending = true;
    wake?.();
  };
  const onError = () => {
    alive = false;
  };
  client.on('notification', onNotification);
  client.on('error', onError);
  try {
    await client.query(`LISTEN ${quoteIdent(channel)}`);
  } catch (err) {
    client.removeListener('notification', onNotification);
    client.release(err instanceof Error ? err : true);
    throw err;
  }
  return {
    get alive() {
      return alive;
    },
    async wait(timeoutMs, abort) {
      if (!pending && !abort?.aborted) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            abort?.removeEventListener('abort', done);
            wake = undefined;
            resolve();
          };
          const timer = setTimeout(done, timeoutMs);
          abort?.addEventListener('abort', done, { once: true });
          wake = done;
        });
      }
      pending = false;
    },
    async close() {
      client.removeListener('notification', onNotification);
      // The error listener stays: a connection that breaks during UNLISTEN or after release must not emit
      // an unhandled 'error' (which would end the process).
      // A client that was listening goes back to the pool only after UNLISTEN; a broken one is destroyed.
      if (alive) {
        try {
          await client.query('UNLISTEN *');
          client.release();
          return;
        } catch {
          // fall through: destroy it
        }
      }
      client.release(true);
    },
  };
}
