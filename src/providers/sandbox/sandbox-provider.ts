import { newId } from '../../domain/ids.ts';
import type { Provider } from '../../domain/ports.ts';
import type { OutboundMessage, SendResult } from '../../domain/types.ts';
import { envelopeRecipients, renderMime } from '../render-mime.ts';

export interface SandboxEntry {
  id: string;
  messageId: string;
  attempt: number;
  envelopeFrom: string;
  envelopeTo: string[];
  subject: string;
  /** What was handed to the provider; `renderSandboxMime` turns it into the exact MIME. */
  message: OutboundMessage;
  createdAt: number;
}

export async function renderSandboxMime(entry: SandboxEntry): Promise<string> {
  return (await renderMime(entry.message, new Date(entry.createdAt))).toString('utf8');
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

/**
 * Accepts every message without sending it anywhere, and keeps it in an outbox that
 * `GET /v1/sandbox/messages` shows with its full MIME source. The default provider, for trying
 * Tegami out and for applications' own tests.
 *
 * The MIME is rendered when the outbox is read, not when the message is sent: rendering was the
 * largest CPU cost of end-to-end delivery (~16%, profiled), and the result is the same bytes
 * because the Date header is the recorded send time and the Message-ID derives from the id.
 */
export class SandboxProvider implements Provider {
  readonly name = 'sandbox';

  constructor(
    private readonly outbox: SandboxOutbox,
    private readonly clock: () => number = Date.now,
  ) {}

  async send(message: OutboundMessage): Promise<SendResult> {
    const id = newId('sbx');
    await this.outbox.add({
      id,
      messageId: message.id,
      attempt: message.attempt,
      envelopeFrom: message.content.from.email,
      envelopeTo: envelopeRecipients(message),
      subject: message.content.subject,
      message,
      createdAt: this.clock(),
    });
    return { outcome: 'accepted', providerMessageId: id, httpStatus: 202 };
  }
}
