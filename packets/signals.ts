/**
 * Coalesces `claimed` signals: at most one per packet per flush interval, carrying every claim opened in
 * that window. A signal is only a wake-up (the workflow's sweep finds claims whose signal was lost), so a
 * failed send is logged and dropped rather than retried on the request path.
 */
import type { TemporalDeps } from '../temporal/client';
import { claimedSignal, packetWorkflowId, type ClaimNotice } from '../workflows/messages';

/** Bounds memory if Temporal stalls: beyond this many claims buffered for one packet, older notices are dropped. */
const MAX_BUFFERED_PER_PACKET = 1_000;

export interface ClaimSignalerStats {
  signalsSent: number;
  signalsFailed: number;
  claimsNotified: number;
}

export class ClaimSignaler {
  private readonly buffers = new Map<string, ClaimNotice[]>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  readonly stats: ClaimSignalerStats = { signalsSent: 0, signalsFailed: 0, claimsNotified: 0 };

  constructor(
    private readonly temporal: TemporalDeps,
    private readonly flushIntervalMs: number,
    private readonly onError: (packetId: string, err: unknown) => void = () => undefined,
    private readonly onSent: (claims: number) => void = () => undefined,
  ) {}

  notify(packetId: string, claim: ClaimNotice): void {
    const buffer = this.buffers.get(packetId) ?? [];
    if (buffer.length >= MAX_BUFFERED_PER_PACKET) buffer.shift();
    buffer.push(claim);
    this.buffers.set(packetId, buffer);
    if (!this.timers.has(packetId)) {
      this.timers.set(
        packetId,
        setTimeout(() => this.flush(packetId), this.flushIntervalMs),
      );
    }
  }

  private flush(packetId: string): void {
    this.timers.delete(packetId);
    const claims = this.buffers.get(packetId);
    this.buffers.delete(packetId);
    if (!claims?.length) return;
    const sending = this.temporal.client.workflow
      .getHandle(packetWorkflowId(packetId))
      .signal(claimedSignal, { claims })
      .then(
        () => {
          this.stats.signalsSent++;
          this.stats.claimsNotified += claims.length;
          this.onSent(claims.length);
        },
        (err: unknown) => {
          this.stats.signalsFailed++;
          this.onError(packetId, err);
        },
      )
      .finally(() => this.inFlight.delete(sending));
    this.inFlight.add(sending);
  }

  /** Sends everything buffered now and waits for it (graceful shutdown, tests). */
  async drain(): Promise<void> {
    for (const [packetId, timer] of this.timers) {
      clearTimeout(timer);
      this.flush(packetId);
    }
    await Promise.all([...this.inFlight]);
  }
}
