/**
 * Progress on stderr while the bench runs: one line per phase that rewrites itself on a terminal, and a line
 * every few seconds otherwise (CI logs), so a long step never looks hung.
 */
const TICK_MS = 1_000;
const PLAIN_EVERY_MS = 5_000;

export type Log = (line: string) => void;

/** Which tool is talking: the chaos driver shares these helpers and says `[chaos]`. */
let prefix = '[bench]';
export function setLogPrefix(tool: string): void {
  prefix = `[${tool}]`;
}

export const log: Log = (line) => {
  process.stderr.write(`${prefix} ${line}\n`);
};

export interface Progress {
  add(n?: number): void;
  done(summary?: string): void;
}

export function progress(label: string, total: number): Progress {
  const tty = process.stderr.isTTY;
  const startedMs = Date.now();
  let completed = 0;
  let lastPlainMs = startedMs;
  const render = () => {
    const elapsedS = (Date.now() - startedMs) / 1000;
    const rate = elapsedS > 0 ? Math.round(completed / elapsedS) : 0;
    return `${label}: ${completed.toLocaleString('en-US')}/${total.toLocaleString('en-US')} (${rate.toLocaleString('en-US')}/s, ${elapsedS.toFixed(1)} s)`;
  };
  const timer = setInterval(() => {
    if (tty) process.stderr.write(`\r${prefix} ${render()}\x1b[K`);
    else if (Date.now() - lastPlainMs >= PLAIN_EVERY_MS) {
      lastPlainMs = Date.now();
      log(render());
    }
  }, TICK_MS);
  timer.unref();
  return {
    add(n = 1) {
      completed += n;
    },
    done(summary) {
      clearInterval(timer);
      if (tty) process.stderr.write('\r\x1b[K');
      log(summary ? `${label}: ${summary}` : render());
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
