/**
 * Replays the histories recorded since the credit pump (test/fixtures/histories-pump, then
 * histories-local-payment since the payment became a local activity, then histories-settle-owed since
 * settlement leaves owed credits to the pumps) against today's workflow code;
 * replay.test.ts keeps replaying the ones recorded before it. A failure here means a change would break
 * running packets or pumps: guard it with patched() (docs/credit-pump.md, "Migration").
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { getRunState } from '../support/runState';

/** Each era's recorded scenarios; a new era records the same scenarios again with its workflow code. */
const SCENARIOS = [
  'expired-with-refund.json',
  'fully-claimed.json',
  'insufficient-funds.json',
  'pump-continued-as-new.json',
  'stuck-then-recovered.json',
];
const ERAS = ['histories-pump', 'histories-local-payment', 'histories-settle-owed'];
const fixtures = ERAS.flatMap((era) =>
  readdirSync(join(__dirname, '../fixtures', era))
    .filter((file) => file.endsWith('.json'))
    .map((file) => join(era, file)),
);

describe('workflow replay (credit pump era and later)', () => {
  test.each(ERAS)('%s holds a fixture for every recorded scenario', (era) => {
    const files = readdirSync(join(__dirname, '../fixtures', era)).filter((file) => file.endsWith('.json'));
    expect(files.sort()).toEqual([...SCENARIOS].sort());
  });

  test.each(fixtures)('%s replays without nondeterminism', async (file) => {
    const history: unknown = JSON.parse(readFileSync(join(__dirname, '../fixtures', file), 'utf8'));
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: getRunState().bundlePath }, replayName: file },
      history,
      `replay-${file}`,
    );
  });
});
