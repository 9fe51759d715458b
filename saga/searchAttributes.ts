/**
 * Custom search attributes operators use to find packets in the Temporal UI, defined once for the workflow
 * (typed keys) and for provisioning (names and CLI types).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const PacketStatusKey = defineSearchAttributeKey('PacketStatus', SearchAttributeType.KEYWORD);
export const SenderIdKey = defineSearchAttributeKey('SenderId', SearchAttributeType.KEYWORD);
export const PendingCreditsKey = defineSearchAttributeKey('PendingCredits', SearchAttributeType.INT);
export const CreditStuckKey = defineSearchAttributeKey('CreditStuck', SearchAttributeType.BOOL);
/** On each reconciliation run: how many violations it found (docs/reconciliation.md). */
export const AuditViolationsKey = defineSearchAttributeKey('AuditViolations', SearchAttributeType.INT);
/** On each settle pump (docs/cells.md): cross-cell credits not delivered, and whether it is stuck. */
export const XcreditBacklogKey = defineSearchAttributeKey('XcreditBacklog', SearchAttributeType.INT);
export const XcreditStuckKey = defineSearchAttributeKey('XcreditStuck', SearchAttributeType.BOOL);

export const SEARCH_ATTRIBUTES = [
  { name: PacketStatusKey.name, cliType: 'Keyword' },
  { name: SenderIdKey.name, cliType: 'Keyword' },
  { name: PendingCreditsKey.name, cliType: 'Int' },
  { name: CreditStuckKey.name, cliType: 'Bool' },
  { name: AuditViolationsKey.name, cliType: 'Int' },
  { name: XcreditBacklogKey.name, cliType: 'Int' },
  { name: XcreditStuckKey.name, cliType: 'Bool' },
] as const;
