/** The text the Temporal UI shows for a packet (current details): who is owed what, and why it is late. */
import type { PacketView, WaitingCredit } from '../saga';

const MAX_LISTED = 20;

const yuan = (fen: number): string => `¥${(fen / 100).toFixed(2)}`;

export function summarize(view: PacketView, waiting: WaitingCredit[]): string {
  const lines = [
    `**${view.phase}** packet ${view.packetId} from ${view.senderId}: ${yuan(view.totalFen)} in ${view.count} shares`,
    // A packet learns its totals at settlement; until then Postgres has them.
    (view.phase !== 'FINISHED'
      ? 'claims are credited by the credit pumps'
      : `credited ${view.creditedCount} claims (${yuan(view.creditedFen)})`) +
      (view.refundFen !== null ? `, refunded ${yuan(view.refundFen)}` : ''),
  ];
  if (view.creditStuck || view.lastError) {
    lines.push(
      `credit failing since ${new Date(view.failingSinceMs ?? 0).toISOString()}: ${view.lastError ?? 'unknown error'}`,
    );
  }
  if (waiting.length > 0) {
    lines.push(
      '',
      `waiting for credit (${waiting.length}):`,
      '',
      '| claim | recipient | amount | since | last error |',
      '|---|---|---|---|---|',
    );
    for (const claim of waiting.slice(0, MAX_LISTED)) {
      lines.push(
        `| ${claim.claimId} | ${claim.userId} | ${yuan(claim.amountFen)} | ${new Date(claim.sinceMs).toISOString()} | ${claim.lastError ?? ''} |`,
      );
    }
    if (waiting.length > MAX_LISTED)
      lines.push(`… and ${waiting.length - MAX_LISTED} more (query packetView for all)`);
  }
  return lines.join('\n');
}
