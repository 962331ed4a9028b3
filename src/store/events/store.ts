import { DEFAULT_EVENT_MATCH_WINDOW_S } from '../../domain/defaults.ts';
import type {
  DeliveryEventStore,
  EventPageRequest,
  IngestResult,
  PagedEvent,
  RecentEvents,
} from '../../domain/ports/delivery-event-store.ts';
import type { DeliveryEvent } from '../../domain/types.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { ingestEvents } from './ingest.ts';
import { type MatchWalk, matchLater } from './match-later.ts';
import { eventPage, recentEvents } from './message-events.ts';
import { pruneUnmatched } from './prune-unmatched.ts';

/**
 * Delivery events: stored once each, matched to messages, folded into recipients' status. This
 * object owns the late-matching walk's position.
 */
export class SqlDeliveryEventStore implements DeliveryEventStore {
  private readonly walk: MatchWalk;
  private readonly suppressBlocks: boolean;

  constructor(
    private readonly handle: DatabaseHandle,
    options: {
      suppressBlocks?: boolean;
      /** Unmatched events older than this are no longer looked at by `matchLater`. */
      matchWindowMs?: number;
    } = {},
  ) {
    this.suppressBlocks = options.suppressBlocks ?? false;
    this.walk = {
      windowMs: options.matchWindowMs ?? DEFAULT_EVENT_MATCH_WINDOW_S * 1000,
      cursor: null,
    };
  }

  ingest(events: DeliveryEvent[], now: number): Promise<IngestResult> {
    return ingestEvents(this.handle, { suppressBlocks: this.suppressBlocks }, events, now);
  }

  /** See match-later.ts; the next call resumes where this one stopped. */
  matchLater(pageSize: number, maxPages = 1, now = Date.now()): Promise<number> {
    return matchLater(this.handle, this.walk, pageSize, maxPages, now);
  }

  pruneUnmatched(receivedBefore: number, limit: number): Promise<number> {
    return pruneUnmatched(this.handle, receivedBefore, limit);
  }

  recentEvents(messageId: string, perGroup: number): Promise<RecentEvents> {
    return recentEvents(this.handle, messageId, perGroup);
  }

  eventPage(messageId: string, page: EventPageRequest): Promise<PagedEvent[] | null> {
    return eventPage(this.handle, messageId, page);
  }
}
