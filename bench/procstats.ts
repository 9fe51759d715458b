/**
 * What the processes under test cost, from /proc: VmRSS sampled a few times a second for the peak within
 * each scenario, VmHWM (the kernel's peak since start), CPU seconds per process (utime + stime), and how
 * busy the whole machine was, which shows how much went to Postgres, Redis and anything else running.
 */
import { readFileSync } from 'node:fs';

const SAMPLE_MS = 250;
/** USER_HZ: the unit of /proc/<pid>/stat times; 100 on every mainstream Linux build. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcReading {
  /** Highest VmRSS seen in the window, MB. */
  peakMb: number;
  /** VmHWM: peak resident size since the process started, MB. */
  hwmMb: number;
  /** CPU time used in the window, seconds (user + system). */
  cpuSeconds: number;
}

export interface WindowReading {
  processes: Record<string, ProcReading>;
  /** Share of all cores busy over the window (1 = every core all the time). */
  machineBusy: number;
  /** CPU seconds of the bench process itself (the load generator) in the window. */
  benchCpuSeconds: number;
  seconds: number;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // exited, or not on Linux
  }
}

function memoryKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(read(`/proc/${pid}/status`) ?? '');
  return match?.[1] ? Number(match[1]) : undefined;
}

function cpuTicks(pid: number): number {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return 0;
  // Fields after the command name (which may contain spaces) start at state; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
}

function machineTicks(): { busy: number; total: number } {
  const line = (read('/proc/stat') ?? '').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

/** A process's resident set now (VmRSS), MB; undefined once it has exited. */
export function residentMb(pid: number): number | undefined {
  const kb = memoryKb(pid, 'VmRSS');
  return kb === undefined ? undefined : Math.round(kb / 1024);
}

export type CpuMark = Mark;

interface Mark {
  atMs: number;
  ticks: Map<string, number>;
  machine: { busy: number; total: number };
  bench: NodeJS.CpuUsage;
}

export class ProcSampler {
  private readonly peaksKb = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private window: Mark;

  constructor(private readonly pids: Map<string, number>) {
    this.window = this.mark();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  /** The processes sampled, by name. */
  processes(): ReadonlyMap<string, number> {
    return this.pids;
  }

  /** Samples one more process from now on (the two-cell phase's children). */
  add(name: string, pid: number): void {
    this.pids.set(name, pid);
    this.window.ticks.set(name, cpuTicks(pid));
  }

  /** A point to measure CPU from (independent of the phase windows); see `cpuSince`. */
  cpuMark(): CpuMark {
    return this.mark();
  }

  /**
   * CPU seconds since `mark`: per process under test, the bench itself, and `other`, everything else the
   * machine did (Postgres, Redis, the kernel, and whatever else runs on these cores).
   */
  cpuSince(mark: CpuMark): Record<string, number> {
    const now = this.mark();
    const seconds: Record<string, number> = {};
    for (const name of this.pids.keys())
      seconds[name] = ((now.ticks.get(name) ?? 0) - (mark.ticks.get(name) ?? 0)) / CLOCK_TICKS_PER_SECOND;
    const bench = process.cpuUsage(mark.bench);
    seconds['bench'] = (bench.user + bench.system) / 1e6;
    const machine = (now.machine.busy - mark.machine.busy) / CLOCK_TICKS_PER_SECOND;
    const ours = Object.values(seconds).reduce((sum, value) => sum + value, 0);
    seconds['other'] = Math.max(0, machine - ours);
    return seconds;
  }

  private mark(): Mark {
    return {
      atMs: Date.now(),
      ticks: new Map([...this.pids].map(([name, pid]) => [name, cpuTicks(pid)])),
      machine: machineTicks(),
      bench: process.cpuUsage(),
    };
  }

  private sample(): void {
    for (const [name, pid] of this.pids) {
      const kb = memoryKb(pid, 'VmRSS');
      if (kb !== undefined) this.peaksKb.set(name, Math.max(kb, this.peaksKb.get(name) ?? 0));
    }
  }

  /** Readings since the previous call (or start), then a new window begins. */
  take(): WindowReading {
    this.sample();
    const previous = this.window;
    this.window = this.mark();
    const processes: Record<string, ProcReading> = {};
    for (const [name, pid] of this.pids) {
      processes[name] = {
        peakMb: Math.round((this.peaksKb.get(name) ?? 0) / 1024),
        hwmMb: Math.round((memoryKb(pid, 'VmHWM') ?? 0) / 1024),
        cpuSeconds:
          ((this.window.ticks.get(name) ?? 0) - (previous.ticks.get(name) ?? 0)) / CLOCK_TICKS_PER_SECOND,
      };
    }
    this.peaksKb.clear();
    const total = this.window.machine.total - previous.machine.total;
    const bench = process.cpuUsage(previous.bench);
    return {
      processes,
      machineBusy: total > 0 ? (this.window.machine.busy - previous.machine.busy) / total : 0,
      benchCpuSeconds: (bench.user + bench.system) / 1e6,
      seconds: (this.window.atMs - previous.atMs) / 1000,
    };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
