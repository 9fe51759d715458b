/**
 * A Dockerfile reader for the instructions this project's Dockerfile uses, so the image check replays the
 * file itself rather than a copy of its steps. Anything else is an error: extending the Dockerfile with a
 * new instruction means teaching the replay (scripts/imageCheck.ts) what it does.
 */
import { readFileSync } from 'node:fs';

export type Instruction =
  | { op: 'WORKDIR'; path: string }
  | { op: 'ENV'; vars: Record<string, string> }
  | { op: 'COPY'; from: string | undefined; sources: string[]; dest: string }
  | { op: 'RUN'; command: string; cacheMounts: string[] }
  | { op: 'USER'; user: string }
  | { op: 'EXPOSE'; port: number }
  | { op: 'CMD'; argv: string[] };

export interface Stage {
  name: string;
  image: string;
  steps: Instruction[];
}

/** Joins continuation lines and drops comments and blank lines. */
function logicalLines(text: string): string[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    lines.push((pending + line).trim());
    pending = '';
  }
  if (pending) lines.push(pending.trim());
  return lines;
}

function parseInstruction(op: string, rest: string): Instruction {
  switch (op) {
    case 'WORKDIR':
      return { op, path: rest };
    case 'ENV': {
      const vars: Record<string, string> = {};
      for (const pair of rest.split(/\s+/)) {
        const at = pair.indexOf('=');
        if (at <= 0) throw new Error(`ENV ${rest}: only KEY=value pairs are supported`);
        vars[pair.slice(0, at)] = pair.slice(at + 1).replace(/^"(.*)"$/, '$1');
      }
      return { op, vars };
    }
    case 'COPY': {
      const words = rest.split(/\s+/);
      let from: string | undefined;
      while (words[0]?.startsWith('--')) {
        const flag = words.shift() as string;
        if (!flag.startsWith('--from=')) throw new Error(`COPY ${flag} is not supported`);
        from = flag.slice('--from='.length);
      }
      const dest = words.pop();
      if (!dest || words.length === 0) throw new Error(`COPY ${rest}: needs sources and a destination`);
      return { op, from, sources: words, dest };
    }
    case 'RUN': {
      const cacheMounts: string[] = [];
      let command = rest;
      for (let flag = /^--(\S+)\s+/.exec(command); flag; flag = /^--(\S+)\s+/.exec(command)) {
        const target = /^mount=type=cache,target=(\S+)$/.exec(flag[1] as string)?.[1];
        if (!target)
          throw new Error(`RUN --${flag[1]} is not supported (only --mount=type=cache,target=...)`);
        cacheMounts.push(target);
        command = command.slice(flag[0].length);
      }
      if (command.startsWith('[')) throw new Error('RUN in exec form is not supported');
      return { op, command, cacheMounts };
    }
    case 'USER':
      return { op, user: rest };
    case 'EXPOSE':
      return { op, port: Number(rest) };
    case 'CMD': {
      const argv: unknown = JSON.parse(rest);
      if (!Array.isArray(argv) || !argv.every((word) => typeof word === 'string'))
        throw new Error('CMD must be in exec (JSON array) form');
      return { op, argv: argv };
    }
    default:
      throw new Error(`Dockerfile instruction ${op} is not supported by the image check`);
  }
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const line of logicalLines(text)) {
    const match = /^(\S+)\s+(.*)$/.exec(line);
    if (!match) throw new Error(`cannot read Dockerfile line: ${line}`);
    const op = (match[1] as string).toUpperCase();
    const rest = (match[2] as string).trim();
    if (op === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!from) throw new Error(`FROM ${rest}: expected "FROM image [AS name]"`);
      stages.push({ image: from[1] as string, name: from[2] ?? String(stages.length), steps: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${op} before FROM`);
    stage.steps.push(parseInstruction(op, rest));
  }
  if (stages.length === 0) throw new Error('the Dockerfile has no FROM');
  return stages;
}

export function readDockerfile(path: string): Stage[] {
  return parseDockerfile(readFileSync(path, 'utf8'));
}

/** The image's default command: the last stage's last CMD. */
export function defaultCommand(stages: Stage[]): string[] | undefined {
  const steps = stages.at(-1)?.steps ?? [];
  const cmd = steps.filter((step): step is Extract<Instruction, { op: 'CMD' }> => step.op === 'CMD').at(-1);
  return cmd?.argv;
}
