/**
 * Per-process counters the delivery worker, the API and tracking report into (Prometheus metrics
 * in ops/metrics/). A port, so the domain and the loops need no metrics library.
 */
export interface Telemetry {
  messagesAccepted(unitId: string, count: number): void;
  /** Accepted messages this process's worker took at once, without a claim (ports/hand-off.ts). */
  messagesHandedOver(count: number): void;
  attemptFinished(attempt: {
    provider: string;
    /** accepted, retryable, permanent, unknown */
    outcome: string;
    errorClass: string | null;
    durationMs: number;
  }): void;
  eventsIngested(type: string, count: number): void;
  /** One post of a status webhook: delivered, retrying or failed (given up). */
  statusWebhookPosted(result: 'delivered' | 'retrying' | 'failed'): void;
}

/** For tests and tools that count nothing. */
export const NO_TELEMETRY: Telemetry = {
  messagesAccepted() {},
  messagesHandedOver() {},
  attemptFinished() {},
  eventsIngested() {},
  statusWebhookPosted() {},
};
