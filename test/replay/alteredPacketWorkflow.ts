/**
 * The replay test's negative control: today's packetWorkflow with one unversioned change, a timer before
 * the payment, as someone might add without patched(). Every recorded packet history ran the payment (a
 * local activity marker) in its first workflow task, so replaying any of them against this module must be
 * refused.
 */
import { sleep } from '@temporalio/workflow';
import { packetWorkflow as currentPacketWorkflow } from '../../workflows/packet';

export async function packetWorkflow(
  ...args: Parameters<typeof currentPacketWorkflow>
): ReturnType<typeof currentPacketWorkflow> {
  await sleep('1 second');
  return currentPacketWorkflow(...args);
}
