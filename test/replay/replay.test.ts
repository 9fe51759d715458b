/**
 * Replays recorded production-shaped histories against today's workflow bundle: every era whose workflows
 * may still be running (docs/saga.md, "Changing the workflow"). histories-local-payment holds packets paid in
 * a local activity that settle every credit themselves (started before 'settle-leaves-owed'),
 * histories-settle-owed packets whose settlement leaves owed credits to the pumps, and histories-deprecated
 * the same recorded since 'credit-pump' and 'local-payment' were deprecated; all carry those two patches'
 * markers, so none of them can take a removed path. A failure here means a change would break running
 * packets or pumps: guard it with patched(). The negative control replays the packet histories against a
 * deliberately altered workflow, so this test is known to fail when the commands drift from the histories.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, type ReplayResult } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { getRunState } from '../support/runState';

/** Each era's recorded scenarios; a new era records the same scenarios again with its workflow code. */
const SCENARIOS = [
  'expired-with-refund.json',
  'fully-claimed.json',
  'insufficient-funds.json',
  'pump-continued-as-new.json',
  'stuck-then-recovered.json',
];
const ERAS = ['histories-local-payment', 'histories-settle-owed', 'histories-deprecated'];
/** Markers of the deprecated patches: every kept packet history has both, so none takes a removed path. */
const DEPRECATED_PATCHES = ['credit-pump', 'local-payment'];
/** Every fixture is a whole run, so replay walks every workflow task up to the close. */
const CLOSING_EVENTS = [
  'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
];

interface RecordedHistory {
  events: {
    eventType: string;
    workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } };
    markerRecordedEventAttributes?: {
      markerName?: string;
      details?: Record<string, { payloads?: { data?: string }[] }>;
    };
  }[];
}

interface PatchMarker {
  id: string;
  deprecated: boolean;
}

/** The patch markers a history recorded (core writes them as `core_patch` markers). */
function patchMarkersOf(history: RecordedHistory): PatchMarker[] {
  return history.events.flatMap(({ markerRecordedEventAttributes: marker }) => {
    if (marker?.markerName !== 'core_patch') return [];
    const data = marker.details?.['patch-data']?.payloads?.[0]?.data ?? '';
    return [JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as PatchMarker];
  });
}

const fixtures = ERAS.flatMap((era) =>
  readdirSync(join(__dirname, '../fixtures', era))
    .filter((file) => file.endsWith('.json'))
    .map((file) => join(era, file)),
);
const read = (file: string): RecordedHistory =>
  JSON.parse(readFileSync(join(__dirname, '../fixtures', file), 'utf8')) as RecordedHistory;
const workflowTypeOf = (history: RecordedHistory) =>
  history.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
const packetFixtures = fixtures.filter((file) => workflowTypeOf(read(file)) === 'packetWorkflow');

describe('workflow replay', () => {
  test.each(ERAS)('%s holds a fixture for every recorded scenario', (era) => {
    const files = readdirSync(join(__dirname, '../fixtures', era)).filter((file) => file.endsWith('.json'));
    expect(files.sort()).toEqual([...SCENARIOS].sort());
  });

  test('every packet fixture is a whole run that passed the deprecated patches', () => {
    expect(packetFixtures).toHaveLength(ERAS.length * (SCENARIOS.length - 1));
    for (const file of packetFixtures) {
      const history = read(file);
      expect(CLOSING_EVENTS).toContain(history.events.at(-1)?.eventType);
      // A refused payment ends the run before the pump's patch is asked; it still paid locally.
      const expected = file.endsWith('insufficient-funds.json') ? ['local-payment'] : DEPRECATED_PATCHES;
      const markers = patchMarkersOf(history);
      expect(markers.map((marker) => marker.id)).toEqual(expect.arrayContaining(expected));
      // Today's code writes the deprecated patches' markers as deprecated, which lets the next step remove
      // the deprecatePatch calls without failing the replay of what it wrote.
      if (file.startsWith('histories-deprecated')) {
        for (const marker of markers) expect(marker.deprecated).toBe(DEPRECATED_PATCHES.includes(marker.id));
      }
    }
  });

  test.each(fixtures)('%s replays without nondeterminism', async (file) => {
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: getRunState().bundlePath }, replayName: file },
      read(file),
      `replay-${file}`,
    );
  });

  test('a workflow changed without patched() fails every packet replay with a DeterminismViolationError', async () => {
    const results: ReplayResult[] = [];
    const histories = packetFixtures.map((file) => ({ workflowId: `altered-${file}`, history: read(file) }));
    for await (const result of Worker.runReplayHistories(
      { workflowsPath: require.resolve('./alteredPacketWorkflow'), replayName: 'altered-workflow' },
      histories,
    ))
      results.push(result);
    expect(results).toHaveLength(histories.length);
    for (const { error } of results) expect(error).toBeInstanceOf(DeterminismViolationError);
  }, 60_000);
});
