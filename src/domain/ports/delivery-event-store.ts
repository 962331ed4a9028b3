import type { DeliveryEvent } from '../types.ts';

export interface IngestResult {
  received: number;
  /** New events stored. */
  stored: number;
  /** Events seen before (same provider event id), ignored. */
  duplicates: number;
  /** New events matched to a message now; the rest wait for their attempt to be recorded. */
  matched: number;
}

export interface TimelineEntry {
  event: string;
  email: string;
  occurredAt: number;
  receivedAt: number;
  payload: Record<string, unknown>;
}

/** Delivery events: stored once each, matched to messages, folded into recipients' status. */
export interface DeliveryEventStore {
  /** Stores a batch (de-duplicated, matched, folded, suppressions, confirmations) durably. */
  ingest(events: DeliveryEvent[], now: number): Promise<IngestResult>;
  /** A message's delivery events, oldest first. */
  timeline(messageId: string): Promise<TimelineEntry[]>;
}
