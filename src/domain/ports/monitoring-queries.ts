/** Rows the alert rules and the cluster-wide metrics read; cheap, index-only where possible. */

/** Messages not yet accepted by a provider, grouped by unit and their last attempt's facts. */
export interface PendingGroup {
  unitId: string;
  lastErrorClass: string | null;
  lastOutcome: string | null;
  lastProviderFault: string | null;
  count: number;
  /** When the oldest of them was due: created, or its send_at. */
  oldestSince: number;
}

export interface DeadLetterGroup {
  unitId: string;
  errorClass: string | null;
  providerFault: string | null;
  count: number;
  /** When the first of them failed. */
  firstFailedAt: number;
}

export interface MonitoringQueries {
  /** Queued, due scheduled and sending messages (not yet accepted), grouped. */
  pending(now: number): Promise<PendingGroup[]>;
  /** Messages dead-lettered at or after `since`. */
  deadLettersSince(since: number): Promise<DeadLetterGroup[]>;
  /** Accepted in [since, before) with no delivery event, per unit. */
  unconfirmedByUnit(since: number, before: number): Promise<Map<string, number>>;
  /**
   * The provider's own words for the newest unsent message of a unit (or any) whose last attempt
   * failed with `errorClass`: its error messages, the answer's start, or the failure's detail.
   */
  errorSample(
    errorClass: string,
    unitId: string | null,
    failedOnly: boolean,
  ): Promise<string | null>;
  /** When the newest delivery event arrived; null when none has. */
  lastEventAt(): Promise<number | null>;
  /** Accepted after `after` (and at or after `since`) with no delivery event yet. */
  acceptedUnconfirmedAfter(
    after: number,
    since: number,
  ): Promise<{ count: number; first: number | null }>;
  /** Every message, counted by status and unit (for metrics). */
  countByStatusAndUnit(): Promise<{ status: string; unitId: string; count: number }[]>;
}
