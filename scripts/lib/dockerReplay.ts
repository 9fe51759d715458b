/**
 * Replays a Dockerfile's build in plain directories: each stage gets its own root under a scratch directory,
 * COPY takes the build context through .dockerignore (or another stage's files with --from), RUN runs in a
 * clean environment (the stage's ENV, PATH without any node_modules/.bin, HOME), and the base image's Node
 * major version must be this machine's. What it cannot reproduce (USER, EXPOSE) is recorded for the caller.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { posix } from 'node:path';
import type { Stage } from './dockerfile';

export interface BuiltStage {
  name: string;
  /** The stage's file system root on this machine. */
  root: string;
  /** WORKDIR inside the stage, as the Dockerfile names it. */
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  exposed: number[];
  cmd: string[] | undefined;
}

/** Where a path inside the stage lives on this machine. */
export function hostPath(stage: Pick<BuiltStage, 'root' | 'workdir'>, path: string): string {
  return join(stage.root, posix.resolve(stage.workdir, path));
}

/** A .dockerignore as Docker reads it: patterns against the path from the context root, `*` within a segment. */
export function dockerignore(contextDir: string): (relPath: string) => boolean {
  const file = join(contextDir, '.dockerignore');
  const patterns = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('#'))
    : [];
  const regexes = patterns.map((pattern) => {
    if (pattern.startsWith('!')) throw new Error(`.dockerignore exceptions (${pattern}) are not supported`);
    const source = pattern
      .replace(/^\/+|\/+$/g, '')
      .split('/')
      .map((segment) =>
        segment === '**'
          ? '.*'
          : segment
              .replace(/[.+^${}()|[\]\\]/g, '\\$&')
              .replace(/\*/g, '[^/]*')
              .replace(/\?/g, '[^/]'),
      )
      .join('/');
    return new RegExp(`^${source}(/.*)?$`);
  });
  return (relPath) => regexes.some((regex) => regex.test(relPath));
}

/**
 * Environment of a process in the image: nothing of this process's own but PATH (minus npm's bins) and a
 * HOME of its own (so no user .npmrc applies, as in the image).
 */
export function imageEnv(stageEnv: Record<string, string>, home: string): Record<string, string> {
  const path = (process.env.PATH ?? '')
    .split(':')
    .filter((dir) => dir && !dir.includes(`node_modules${sep}.bin`))
    .join(':');
  return { PATH: path, HOME: home, npm_config_update_notifier: 'false', ...stageEnv };
}

/** npm's cache as root has it in the image; a cache mount there is replayed as this machine's npm cache. */
const NPM_CACHE_TARGET = '/root/.npm';

/**
 * A `--mount=type=cache` persists outside the image, like this machine's own npm cache, whose content npm
 * checks against the lockfile's integrity hashes: it changes how fast, not what, npm installs.
 */
function cacheMountEnv(targets: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const target of targets) {
    if (target !== NPM_CACHE_TARGET)
      throw new Error(`cache mount ${target}: only ${NPM_CACHE_TARGET} is replayed`);
    env.npm_config_cache = npmCacheDir();
  }
  return env;
}

let npmCache: string | undefined;
function npmCacheDir(): string {
  npmCache ??= spawnSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).stdout.trim();
  return npmCache;
}

export function replayBuild(options: {
  stages: Stage[];
  contextDir: string;
  scratchDir: string;
  log: (line: string) => void;
}): BuiltStage[] {
  const built: BuiltStage[] = [];
  const ignored = dockerignore(options.contextDir);
  const hostMajor = process.versions.node.split('.')[0];
  for (const stage of options.stages) {
    const imageMajor = /^node:(\d+)/.exec(stage.image)?.[1];
    if (imageMajor !== hostMajor)
      throw new Error(`stage ${stage.name} is based on ${stage.image}, this machine runs Node ${hostMajor}`);
    const state: BuiltStage = {
      name: stage.name,
      root: join(options.scratchDir, stage.name),
      workdir: '/',
      env: {},
      user: undefined,
      exposed: [],
      cmd: undefined,
    };
    mkdirSync(state.root, { recursive: true });
    options.log(`stage ${stage.name} (${stage.image})`);
    for (const step of stage.steps) {
      switch (step.op) {
        case 'WORKDIR':
          state.workdir = posix.resolve(state.workdir, step.path);
          mkdirSync(hostPath(state, '.'), { recursive: true });
          break;
        case 'ENV':
          Object.assign(state.env, step.vars);
          break;
        case 'COPY': {
          const from = step.from === undefined ? undefined : built.find((b) => b.name === step.from);
          if (step.from !== undefined && !from) throw new Error(`COPY --from=${step.from}: no such stage`);
          const toDir = step.dest.endsWith('/') || step.sources.length > 1;
          for (const source of step.sources) {
            const src = from ? join(from.root, posix.resolve('/', source)) : join(options.contextDir, source);
            const dest = hostPath(state, step.dest);
            const target = toDir && !statSync(src).isDirectory() ? join(dest, basename(src)) : dest;
            cpSync(src, target, {
              recursive: true,
              // Docker filters the context only; files from another stage are copied as they are.
              filter: (path) => from !== undefined || !ignored(relative(options.contextDir, path)),
            });
          }
          options.log(
            `  COPY ${step.from ? `--from=${step.from} ` : ''}${step.sources.join(' ')} ${step.dest}`,
          );
          break;
        }
        case 'RUN': {
          const mounts = step.cacheMounts.map((target) => `--mount=type=cache,target=${target} `).join('');
          options.log(`  RUN ${mounts}${step.command}`);
          const startedMs = Date.now();
          const run = spawnSync('sh', ['-c', step.command], {
            cwd: hostPath(state, '.'),
            env: {
              ...imageEnv(state.env, join(options.scratchDir, 'home')),
              ...cacheMountEnv(step.cacheMounts),
            },
            stdio: ['ignore', 'inherit', 'inherit'],
          });
          if (run.status !== 0)
            throw new Error(`RUN ${step.command} failed (exit ${run.status ?? run.signal})`);
          options.log(`    done in ${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
          break;
        }
        case 'USER':
          state.user = step.user;
          break;
        case 'EXPOSE':
          state.exposed.push(step.port);
          break;
        case 'CMD':
          state.cmd = step.argv;
          break;
      }
    }
    built.push(state);
  }
  return built;
}
