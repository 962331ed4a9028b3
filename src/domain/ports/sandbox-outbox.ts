import type { OutboundMessage } from '../types.ts';

export interface SandboxEntry {
  id: string;
  messageId: string;
  attempt: number;
  envelopeFrom: string;
  envelopeTo: string[];
  subject: string;
  /** What was handed to the provider; rendered into the exact MIME when read. */
  message: OutboundMessage;
  createdAt: number;
}

export interface SandboxOutbox {
  add(entry: SandboxEntry): Promise<void>;
  /**
   * Newest first, after `beforeId` when given: at most `limit` entries, and no more than about
   * `maxBytes` of stored messages (at least one entry, however large). `more` tells whether
   * entries remain after the last one returned. With `unitId`, only mail of that unit's messages.
   */
  list(options: {
    messageId?: string;
    unitId?: string;
    beforeId?: string;
    limit: number;
    maxBytes: number;
  }): Promise<{ entries: SandboxEntry[]; more: boolean }>;
}

/** The sandbox outbox as `GET /v1/sandbox/messages` shows it: entries and their exact MIME. */
export interface SandboxView {
  outbox: SandboxOutbox;
  renderMime(entry: SandboxEntry): Promise<string>;
}
