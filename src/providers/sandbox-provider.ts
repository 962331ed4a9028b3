import { newId } from '../domain/ids.ts';
import type { Provider } from '../domain/ports.ts';
import type { OutboundMessage, SendResult } from '../domain/types.ts';
import { envelopeRecipients, renderMime } from './render-mime.ts';

export interface SandboxEntry {
  id: string;
  messageId: string;
  attempt: number;
  envelopeFrom: string;
  envelopeTo: string[];
  subject: string;
  /** The full rendered message, exactly as it would have gone out. */
  mime: string;
  createdAt: number;
}

export interface SandboxOutbox {
  add(entry: SandboxEntry): Promise<void>;
  list(options: { messageId?: string; limit: number }): Promise<SandboxEntry[]>;
}

/**
 * Accepts every message without sending it anywhere, and keeps the rendered MIME in an outbox
 * that `GET /v1/sandbox/messages` shows. The default provider, for trying Tegami out and for
 * applications' own tests.
 */
export class SandboxProvider implements Provider {
  readonly name = 'sandbox';

  constructor(
    private readonly outbox: SandboxOutbox,
    private readonly clock: () => number = Date.now,
  ) {}

  async send(message: OutboundMessage): Promise<SendResult> {
    const mime = await renderMime(message);
    const id = newId('sbx');
    await this.outbox.add({
      id,
      messageId: message.id,
      attempt: message.attempt,
      envelopeFrom: message.content.from.email,
      envelopeTo: envelopeRecipients(message),
      subject: message.content.subject,
      mime: mime.toString('utf8'),
      createdAt: this.clock(),
    });
    return { outcome: 'accepted', providerMessageId: id, httpStatus: 202 };
  }
}
