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

/**
 * Where a page of a message's events ends: the last event shown, by the order events are read in
 * (time; within one time, the natural order of a delivery; arrival; the event's key).
 */
export interface EventCursor {
  occurredAt: number;
  naturalRank: number;
  receivedAt: number;
  key: string;
}

/** Which page of a message's events to read. */
export interface EventPageRequest {
  /** Only if the message is this unit's. */
  unitId?: string;
  before?: EventCursor;
  limit: number;
}

/** One event of a page of a message's events. */
export interface PagedEvent extends TimelineEntry {
  /** False: its address is none of the message's recipients' (a forwarder's, say). */
  matchesRecipient: boolean;
  /** Where the next page starts when this event is the last one shown. */
  cursor: EventCursor;
}

/** The newest events of a message, per recipient, each list oldest first. */
export interface RecentEvents {
  /** By recipient address (lower case): its newest events and how many it has in all. */
  recipients: Map<string, { events: TimelineEntry[]; total: number }>;
  /** Events matched to the message whose address is none of its recipients', together. */
  others: { events: TimelineEntry[]; total: number };
}

/** A message's delivery events as reads show them: bounded, or page by page. */
export interface MessageEventReader {
  /** Up to `perGroup` newest events of each recipient, and of the others together. */
  recentEvents(messageId: string, perGroup: number): Promise<RecentEvents>;
  /**
   * Up to `limit` events, newest first, after `before` (the last of the previous page); null when
   * there is no such message, or (with `unitId`) it is another unit's.
   */
  eventPage(messageId: string, page: EventPageRequest): Promise<PagedEvent[] | null>;
}

/** Delivery events: stored once each, matched to messages, folded into recipients' status. */
export interface DeliveryEventStore extends MessageEventReader {
  /** Stores a batch (de-duplicated, matched, folded, suppressions, confirmations) durably. */
  ingest(events: DeliveryEvent[], now: number): Promise<IngestResult>;
}
