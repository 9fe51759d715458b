/**
 * Reads docker-compose.yml the way Compose does for what the image checks need: a service's environment
 * (YAML merge keys resolved, `${VAR}`, `${VAR:-default}` and `${VAR:?message}` interpolated) and its command.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

interface ComposeService {
  build?: unknown;
  command?: string[] | string;
  restart?: string;
  environment?: Record<string, string | number | boolean | null> | string[];
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
}

export function readCompose(path: string): ComposeFile {
  const parsed = parse(readFileSync(path, 'utf8'), { merge: true }) as ComposeFile;
  if (!parsed || typeof parsed.services !== 'object') throw new Error(`${path} has no services`);
  return parsed;
}

/** Services built from this repository (`build: .`): the ones that run our image. */
export function appServices(compose: ComposeFile): string[] {
  return Object.entries(compose.services)
    .filter(([, service]) => service.build !== undefined)
    .map(([name]) => name);
}

const INTERPOLATION = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g;

/** Compose's interpolation against `vars` (the shell's environment when Compose runs). */
export function interpolate(value: string, vars: Readonly<Record<string, string | undefined>>): string {
  return value.replace(INTERPOLATION, (_, name: string, op: string | undefined, arg: string | undefined) => {
    const set = vars[name];
    const present = op?.startsWith(':') ? set !== undefined && set !== '' : set !== undefined;
    if (present) return set as string;
    if (op === ':-' || op === '-') return arg ?? '';
    if (op === ':?' || op === '?') throw new Error(`${name}: ${arg ?? 'required'}`);
    return '';
  });
}

export function serviceEnvironment(
  compose: ComposeFile,
  service: string,
  vars: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const definition = compose.services[service];
  if (!definition) throw new Error(`docker-compose.yml has no service ${service}`);
  const raw = definition.environment ?? {};
  const entries: [string, string][] = Array.isArray(raw)
    ? raw.map((line) => {
        const at = line.indexOf('=');
        return at < 0 ? [line, vars[line] ?? ''] : [line.slice(0, at), line.slice(at + 1)];
      })
    : Object.entries(raw).map(([key, value]) => [key, value === null ? '' : String(value)]);
  return Object.fromEntries(entries.map(([key, value]) => [key, interpolate(value, vars)]));
}

export function serviceCommand(compose: ComposeFile, service: string): string[] | undefined {
  const command = compose.services[service]?.command;
  if (command === undefined) return undefined;
  return Array.isArray(command) ? command : command.split(/\s+/).filter(Boolean);
}
