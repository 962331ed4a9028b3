/** Per-minute counts for the console's overview; `minute` is epoch ms / 60,000, rounded down. */
export interface TrafficData {
  accepted: { minute: number; count: number }[];
  /** Attempts by minute and outcome (accepted, retryable, permanent, unknown). */
  attempts: { minute: number; outcome: string; count: number }[];
  /** Attempts since `since` by provider: all and failed (any outcome but accepted). */
  providers: { provider: string; attempts: number; failed: number }[];
  /** Delivery events received since `since`, by event (delivered, bounce, deferred, dropped...). */
  events: { event: string; count: number }[];
}

/** What happened lately: read by the overview; cheap for an hour of traffic. */
export interface ConsoleTraffic {
  /** Since `since` (epoch ms); with `unitId`, that unit's messages only. */
  traffic(since: number, unitId?: string): Promise<TrafficData>;
}
