/**
 * Replays recorded production-shaped histories against today's workflow code. A failure here means a change
 * would break running packets: guard it with patched() (see README, "Versioning workflows").
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { getRunState } from '../support/runState';

const FIXTURES = join(__dirname, '../fixtures/histories');
const fixtures = readdirSync(FIXTURES).filter((file) => file.endsWith('.json'));

describe('workflow replay', () => {
  test('there is a fixture for every recorded scenario', () => {
    expect(fixtures.sort()).toEqual(
      [
        'credit-failed-then-succeeded.json',
        'expired-with-refund.json',
        'fully-claimed.json',
        'insufficient-funds.json',
      ].sort(),
    );
  });

  test.each(fixtures)('%s replays without nondeterminism', async (file) => {
    const history: unknown = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8'));
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: getRunState().bundlePath }, replayName: file },
      history,
      `replay-${file}`,
    );
  });
});
