/** What the simulator records: the sends it accepted and the counts of `GET /_simulator/stats`. */
import { randomBytes } from 'node:crypto';

/** A send SendGrid accepted (202), as `GET /_simulator/messages` lists it. */
export interface StoredMessage {
  x_message_id: string;
  /** Epoch ms. */
  received_at: number;
  // biome-ignore lint/suspicious/noExplicitAny: the validated mail/send JSON, a large loose shape
  body: any;
}

export const DEFAULT_MAX_STORED = 100_000;

/** X-Message-Id values: 16 random bytes as 22 characters of URL-safe base64, like SendGrid's. */
class MessageIds {
  private pool = Buffer.alloc(0);
  private offset = 0;
  next(): string {
    if (this.offset + 16 > this.pool.length) {
      this.pool = randomBytes(16 * 1024);
      this.offset = 0;
    }
    const id = this.pool.toString('base64url', this.offset, this.offset + 16);
    this.offset += 16;
    return id;
  }
}

export interface Stats {
  requests: number;
  by_status: Record<string, number>;
  resets: number;
  hangs: number;
  accepted: number;
  sandbox: number;
  duplicates: number;
}

function emptyStats(): Stats {
  return {
    requests: 0,
    by_status: {},
    resets: 0,
    hangs: 0,
    accepted: 0,
    sandbox: 0,
    duplicates: 0,
  };
}

/**
 * The Tegami message ids a send carries: `custom_args.tegami_message_id` of each personalization,
 * or of the message where a personalization has none (SendGrid merges the two that way).
 */
function tegamiIds(body: {
  custom_args?: Record<string, unknown>;
  personalizations: { custom_args?: Record<string, unknown> }[];
}): Set<string> {
  const ids = new Set<string>();
  const global = body.custom_args?.tegami_message_id;
  for (const p of body.personalizations) {
    const id = p.custom_args?.tegami_message_id ?? global;
    if (typeof id === 'string') ids.add(id);
  }
  return ids;
}

/** The newest accepted sends (up to `maxStored`) and the request counts, until the next reset. */
export class MessageLog {
  /** The counts `GET /_simulator/stats` answers with; a new object after each reset. */
  stats: Stats = emptyStats();
  private messages: StoredMessage[] = [];
  private stored = 0; // messages accepted since the last reset, including those no longer kept
  private readonly seenTegamiIds = new Set<string>();
  private readonly ids = new MessageIds();
  private readonly maxStored: number;

  constructor(maxStored: number = DEFAULT_MAX_STORED) {
    this.maxStored = maxStored;
  }

  /** Counts one answer with this status. */
  count(status: number): void {
    const key = String(status);
    this.stats.by_status[key] = (this.stats.by_status[key] ?? 0) + 1;
  }

  /** Records a send SendGrid accepted; returns its new X-Message-Id. */
  // biome-ignore lint/suspicious/noExplicitAny: the validated mail/send JSON, a large loose shape
  accept(body: any, now: number): string {
    const xMessageId = this.ids.next();
    this.stats.accepted++;
    for (const tegamiId of tegamiIds(body)) {
      if (this.seenTegamiIds.has(tegamiId)) this.stats.duplicates++;
      else this.seenTegamiIds.add(tegamiId);
    }
    this.messages.push({ x_message_id: xMessageId, received_at: now, body });
    this.stored++;
    if (this.messages.length > this.maxStored) {
      this.messages = this.messages.slice(-Math.floor(this.maxStored * 0.9));
    }
    return xMessageId;
  }

  /** `GET /_simulator/messages`: one page of the kept sends, oldest first. */
  page(limit: number, offset: number): { total: number; kept: number; messages: StoredMessage[] } {
    return {
      total: this.stored,
      kept: this.messages.length,
      messages: this.messages.slice(offset, offset + limit),
    };
  }

  /** Forgets every send and count (X-Message-Ids go on from where they were). */
  reset(): void {
    this.messages = [];
    this.stored = 0;
    this.seenTegamiIds.clear();
    this.stats = emptyStats();
  }
}
