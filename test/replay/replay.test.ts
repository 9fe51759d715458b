/**
 * Replays recorded production-shaped histories against today's workflow bundle. A failure here means a change
 * would break running packets: guard it with patched() (see README, "Versioning workflows"). The negative
 * control replays the same histories against a deliberately altered workflow, so this test is known to fail
 * when the workflow's commands drift from what the histories recorded.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import { Worker, type ReplayResult } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { getRunState } from '../support/runState';

const FIXTURES = join(__dirname, '../fixtures/histories');
const RECORDED_SCENARIOS = [
  'credit-failed-then-succeeded.json',
  'expired-with-refund.json',
  'fully-claimed.json',
  'insufficient-funds.json',
];
/** Every fixture is a whole run, so replay walks every workflow task up to the close. */
const CLOSING_EVENTS = ['EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED', 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED'];

interface RecordedHistory {
  events: {
    eventType: string;
    workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } };
  }[];
}

function recorded(file: string): HistoryAndWorkflowId & { history: RecordedHistory } {
  const history = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as RecordedHistory;
  return { workflowId: `replay-${file}`, history };
}

async function replayAll(
  options: Parameters<typeof Worker.runReplayHistories>[0],
  histories: HistoryAndWorkflowId[],
): Promise<ReplayResult[]> {
  const results: ReplayResult[] = [];
  for await (const result of Worker.runReplayHistories(options, histories)) results.push(result);
  return results;
}

describe('workflow replay', () => {
  const files = readdirSync(FIXTURES).filter((file) => file.endsWith('.json'));
  const histories = files.map(recorded);

  test('the fixtures are the recorded scenarios, each a whole packetWorkflow run', () => {
    expect([...files].sort()).toEqual(RECORDED_SCENARIOS);
    for (const { history } of histories) {
      const started = history.events[0]?.workflowExecutionStartedEventAttributes;
      expect(started?.workflowType?.name).toBe('packetWorkflow');
      expect(CLOSING_EVENTS).toContain(history.events.at(-1)?.eventType);
    }
  });

  test('every recorded history replays against the current workflow bundle without nondeterminism', async () => {
    const results = await replayAll(
      { workflowBundle: { codePath: getRunState().bundlePath }, replayName: 'current-bundle' },
      histories,
    );
    expect(results.map(({ workflowId, error }) => ({ workflowId, error }))).toEqual(
      histories.map(({ workflowId }) => ({ workflowId, error: undefined })),
    );
  });

  test('a workflow changed without patched() fails every replay with a DeterminismViolationError', async () => {
    const results = await replayAll(
      { workflowsPath: require.resolve('./alteredPacketWorkflow'), replayName: 'altered-workflow' },
      histories,
    );
    expect(results).toHaveLength(histories.length);
    for (const { error } of results) expect(error).toBeInstanceOf(DeterminismViolationError);
  }, 60_000);
});
