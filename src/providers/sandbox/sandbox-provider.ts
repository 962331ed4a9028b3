import { newId } from '../../domain/ids.ts';
import type { Provider } from '../../domain/ports/provider.ts';
import type { SandboxEntry, SandboxOutbox } from '../../domain/ports/sandbox-outbox.ts';
import type { OutboundMessage, SendResult } from '../../domain/types.ts';
import { envelopeRecipients, renderMime } from '../render-mime.ts';

export async function renderSandboxMime(entry: SandboxEntry): Promise<string> {
  return (await renderMime(entry.message, new Date(entry.createdAt))).toString('utf8');
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
