/**
 * `npm run drain -- <cell> [--on | --off] [--reason <text>] [--as <admin>] [--url <api>]` shows a cell's
 * drain switch, or sets it (docs/failover.md "Draining a cell"). It calls the admin endpoint
 * (`/v1/admin/cells/<cell>/drain`) of any API of the deployment, which forwards to the cell named, with a
 * one-minute admin token signed with AUTH_SECRET whose subject (`--as`, default `operator`) is recorded as
 * who changed the switch.
 */
import { parseArgs } from 'node:util';
import { signToken } from '../api/auth';
import { loadConfig } from '../config';
import { CELL_ID_PATTERN } from '../domain/cells';
import { USER_ID_PATTERN } from '../domain/accounts';

const USAGE =
  'usage: npm run drain -- <cell> [--on | --off] [--reason <text>] [--as <admin>] [--url <http://api:port>]';

interface Change {
  drained: boolean;
  reason: string | null;
  changedBy: string;
  changedAt: string;
}

interface State {
  cell: string;
  drained: boolean;
  history: Change[];
  remaining: { openPackets: number; uncreditedClaims: number; undeliveredXcredits: number };
}

function describe(state: State): string {
  const { openPackets, uncreditedClaims, undeliveredXcredits } = state.remaining;
  const idle = openPackets + uncreditedClaims + undeliveredXcredits === 0;
  const lines = [
    `cell ${state.cell}: ${state.drained ? 'DRAINED (new sends refused)' : 'serving'}`,
    `  still to finish: ${openPackets} open packets, ${uncreditedClaims} uncredited claims, ` +
      `${undeliveredXcredits} undelivered cross-cell credits${state.drained && idle ? ' (can be taken down)' : ''}`,
  ];
  for (const change of state.history)
    lines.push(
      `  ${change.changedAt}  ${change.drained ? 'drain  ' : 'undrain'}  by ${change.changedBy}` +
        (change.reason ? `  (${change.reason})` : ''),
    );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      on: { type: 'boolean', default: false },
      off: { type: 'boolean', default: false },
      reason: { type: 'string' },
      as: { type: 'string', default: 'operator' },
      url: { type: 'string' },
    },
  });
  const [cell, ...extra] = positionals;
  if (!cell || extra.length > 0 || (values.on && values.off)) throw new Error(USAGE);
  if (!CELL_ID_PATTERN.test(cell)) throw new Error(`cell ids are 1-8 lowercase letters or digits\n${USAGE}`);
  if (!USER_ID_PATTERN.test(values.as)) throw new Error(`--as takes a user id\n${USAGE}`);
  const config = loadConfig();
  const base = values.url ?? `http://127.0.0.1:${config.http.port}`;
  const token = await signToken(config.auth.secret, values.as, { admin: true, ttlSeconds: 60 });
  const change = values.on || values.off;
  const res = await fetch(`${base}/v1/admin/cells/${cell}/drain`, {
    method: change ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${token}`, ...(change ? { 'content-type': 'application/json' } : {}) },
    ...(change
      ? { body: JSON.stringify({ drained: values.on, ...(values.reason ? { reason: values.reason } : {}) }) }
      : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as State & { detail?: string };
  if (res.status !== 200) throw new Error(`${res.status}: ${body.detail ?? JSON.stringify(body)}`);
  process.stdout.write(`${describe(body)}\n`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
