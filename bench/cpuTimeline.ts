/**
 * CPU over time, per process, to line a latency tail up with what the machine was doing then: every
 * SAMPLE_MS the CPU ticks of the service's processes, the bench itself, and Postgres and Redis (every
 * process of those names found when sampling starts). `coresBetween` then says how many cores each used
 * in a window of the run, so the storm can compare its slowest requests' window with the whole run.
 */
import { readdirSync, readFileSync } from 'node:fs';

const SAMPLE_MS = 20;
const CLOCK_TICKS_PER_SECOND = 100;
const GROUPS_BY_COMMAND: Record<string, string> = { postgres: 'postgres', 'redis-server': 'redis' };

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function ticksOf(pid: number): number {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return 0;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
}

/** Pids of Postgres and Redis processes now running, by group. */
function serverPids(): Map<number, string> {
  const pids = new Map<number, string>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids; // not Linux
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const group = GROUPS_BY_COMMAND[(read(`/proc/${entry}/comm`) ?? '').trim()];
    if (group) pids.set(Number(entry), group);
  }
  return pids;
}

interface Sample {
  atMs: number;
  ticks: Record<string, number>;
}

export class CpuTimeline {
  private readonly samples: Sample[] = [];
  private readonly members = new Map<number, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(processes: ReadonlyMap<string, number>) {
    for (const [name, pid] of processes) this.members.set(pid, name);
    for (const [pid, group] of serverPids()) this.members.set(pid, group);
    this.members.set(process.pid, 'bench');
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  private sample(): void {
    const ticks: Record<string, number> = {};
    for (const [pid, group] of this.members) ticks[group] = (ticks[group] ?? 0) + ticksOf(pid);
    this.samples.push({ atMs: performance.now(), ticks });
  }

  /** Cores each group kept busy between two performance.now() times (the samples nearest inside them). */
  coresBetween(fromMs: number, toMs: number): Record<string, number> {
    const inside = this.samples.filter((sample) => sample.atMs >= fromMs && sample.atMs <= toMs);
    const first = inside[0];
    const last = inside[inside.length - 1];
    if (!first || !last || last.atMs - first.atMs <= 0) return {};
    const seconds = (last.atMs - first.atMs) / 1000;
    const cores: Record<string, number> = {};
    for (const group of Object.keys(last.ticks))
      cores[group] =
        ((last.ticks[group] ?? 0) - (first.ticks[group] ?? 0)) / CLOCK_TICKS_PER_SECOND / seconds;
    return cores;
  }
}

/** `api 0.92, postgres 0.40, ...`, largest first. */
export function formatCores(cores: Record<string, number>): string {
  return Object.entries(cores)
    .sort((a, b) => b[1] - a[1])
    .map(([group, value]) => `${group} ${value.toFixed(2)}`)
    .join(', ');
}
