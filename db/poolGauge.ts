/**
 * The connection pool's figures as a Prometheus gauge, read from the pool's own counters when scraped (no
 * statement): clients open, idle and in use, callers waiting for one, and the cap. Waiting above 0 for long
 * means the pool, not Postgres, is what requests queue on (docs/operators.md).
 */
import { Gauge, type Registry } from 'prom-client';
import type { Db } from './index';

export function registerPoolGauge(registry: Registry, db: Pick<Db, 'pool'>): void {
  const { pool } = db;
  new Gauge({
    name: 'redpacket_db_pool_clients',
    help: "This process's Postgres pool: clients by state (total, idle, waiting callers, max)",
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
      this.set({ state: 'max' }, pool.options.max ?? 10);
    },
  });
}
