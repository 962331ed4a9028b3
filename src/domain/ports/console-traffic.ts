/** Per-minute counts for the console's overview; `minute` is epoch ms / 60,000, rounded down. */
export interface TrafficData {
  accepted: { minute: number; count: number }[];
  /** Attempts by minute and outcome (accepted, retryable, permanent, unknown). */
  attempts: { minute: number; outcome: string; count: number }[];
  /** Attempts since `since` by provider: all and failed (any outcome but accepted). */
  providers: { provider: string; attempts: number; failed: number }[];
  /**
   * Delivery events received since `since`, by the provider's event (delivered, bounce,
   * deferred, dropped, ...); a `bounce` that is a block (`type: "blocked"`) is counted apart,
   * with `blocked` true, as it sets the delivery status `blocked`, not `bounced`.
   */
  events: { event: string; blocked: boolean; count: number }[];
}

/** What happened lately: read by the overview; cheap for an hour of traffic. */
export interface ConsoleTraffic {
  /** Since `since` (epoch ms); with `unitId`, that unit's messages only. */
  traffic(since: number, unitId?: string): Promise<TrafficData>;
}
