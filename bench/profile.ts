/**
 * Summarises a V8 CPU profile (`node --cpu-prof`) by where the time went: npm package, file of this
 * repository, or Node internals, by self time. Enough to say whether a request's cost is auth, logging,
 * validation, Redis, Postgres or Temporal without opening a profiler.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './children';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileShare {
  area: string;
  share: number;
}

function areaOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules?.[1]) return modules[1];
  if (url.startsWith('node:')) return `node:${url.slice('node:'.length).split('/').slice(0, 2).join('/')}`;
  const path = url.replace(/^file:\/\//, '');
  return path.startsWith(ROOT) ? relative(ROOT, path) : path;
}

const isOwner = (area: string) => !area.startsWith('node:') && !area.startsWith('(');
const START_UP = '(start-up: loading and compiling modules)';
const isModuleLoading = (node: ProfileNode) =>
  node.callFrame.url.startsWith('node:internal/modules/') &&
  ['Module._load', 'Module._compile', 'ModuleLoader.import', 'ModuleJob.run'].includes(
    node.callFrame.functionName,
  );

/**
 * Time by the package or file that caused it: a sample in Node internals or native code (socket writes,
 * hashing, JSON) counts for the nearest caller that is a package or a file of this repository, so the
 * shares say which library or module a request's CPU goes to. Idle time is excluded; samples under module
 * loading count as start-up; samples with no such caller (event loop plumbing, GC) keep their own area.
 */
export function summarizeProfile(file: string, top = 15): ProfileShare[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const areaById = new Map<number, string>();
  for (const node of profile.nodes) {
    const own = areaOf(node);
    let area = own;
    let startUp = isModuleLoading(node);
    for (let id = parentOf.get(node.id); id !== undefined; id = parentOf.get(id)) {
      const parent = byId.get(id);
      if (!parent) break;
      startUp ||= isModuleLoading(parent);
      if (!isOwner(area) && own !== '(idle)') area = areaOf(parent);
    }
    areaById.set(node.id, startUp ? START_UP : isOwner(area) ? area : own);
  }
  const micros = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const area = areaById.get(id) ?? '(unknown)';
    micros.set(area, (micros.get(area) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  micros.delete('(idle)');
  const total = [...micros.values()].reduce((sum, value) => sum + value, 0);
  return [...micros.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([area, value]) => ({ area, share: total > 0 ? value / total : 0 }));
}

/** The main thread's profile of process `pid` (`CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile`). */
export function mainThreadProfile(dir: string, pid: number): string | undefined {
  try {
    const files = readdirSync(dir)
      .filter(
        (name) =>
          name.endsWith('.cpuprofile') && name.split('.')[3] === String(pid) && name.split('.')[4] === '0',
      )
      .map((name) => join(dir, name));
    return files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  } catch {
    return undefined;
  }
}

/** Under .data/ (ignored by git): profiles are tens of MB and belong to one machine. */
export const PROFILE_DIR = join(ROOT, '.data', 'bench-profiles');
