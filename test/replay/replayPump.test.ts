/**
 * Replays the histories recorded since the credit pump (test/fixtures/histories-pump) against today's
 * workflow code; replay.test.ts keeps replaying the ones recorded before it. A failure here means a change
 * would break running packets or pumps: guard it with patched() (docs/credit-pump.md, "Migration").
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { getRunState } from '../support/runState';

const FIXTURES = join(__dirname, '../fixtures/histories-pump');
const fixtures = readdirSync(FIXTURES).filter((file) => file.endsWith('.json'));

describe('workflow replay (credit pump era)', () => {
  test('there is a fixture for every recorded scenario', () => {
    expect(fixtures.sort()).toEqual(
      [
        'expired-with-refund.json',
        'fully-claimed.json',
        'insufficient-funds.json',
        'pump-continued-as-new.json',
        'stuck-then-recovered.json',
      ].sort(),
    );
  });

  test.each(fixtures)('%s replays without nondeterminism', async (file) => {
    const history: unknown = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8'));
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: getRunState().bundlePath }, replayName: file },
      history,
      `replay-pump-${file}`,
    );
  });
});
