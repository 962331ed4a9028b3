import type { Address, AttachmentDisposition, OutboundMessage } from '../../domain/types.ts';
import { isReservedHeader } from '../../domain/validate-message.ts';

/**
 * Maps a Tegami message to a SendGrid v3 `POST /v3/mail/send` body (spec/sendgrid/tsg_mail_v3.yaml).
 * The tests validate every body this produces against the official schema.
 */

/** Our message id travels in `custom_args` under this name, so delivery events match back. */
export const TEGAMI_ID_ARG = 'tegami_message_id';

interface SendGridAddress {
  email: string;
  name?: string;
}

export interface MailSendBody {
  personalizations: Array<{
    to: SendGridAddress[];
    cc?: SendGridAddress[];
    bcc?: SendGridAddress[];
    custom_args: Record<string, string>;
  }>;
  from: SendGridAddress;
  reply_to?: SendGridAddress;
  subject: string;
  content: Array<{ type: 'text/plain' | 'text/html'; value: string }>;
  attachments?: Array<{
    content: string;
    type: string;
    filename: string;
    disposition: AttachmentDisposition;
    content_id?: string;
  }>;
  categories?: string[];
  headers?: Record<string, string>;
}

function address({ email, name }: Address): SendGridAddress {
  return name ? { email, name } : { email };
}

export function toMailSendBody({ id, content }: OutboundMessage): MailSendBody {
  const personalization: MailSendBody['personalizations'][number] = {
    to: content.to.map(address),
    // On the personalization, not the top level: the official spec types the top-level
    // `custom_args` as a string, and with one personalization the two mean the same. Metadata
    // first, our id last, so an application's metadata cannot shadow the id events need.
    custom_args: { ...content.metadata, [TEGAMI_ID_ARG]: id },
  };
  // SendGrid rejects empty cc/bcc arrays: leave them out.
  if (content.cc.length > 0) personalization.cc = content.cc.map(address);
  if (content.bcc.length > 0) personalization.bcc = content.bcc.map(address);

  const parts: MailSendBody['content'] = [];
  // SendGrid requires text/plain before text/html.
  if (content.text) parts.push({ type: 'text/plain', value: content.text });
  if (content.html) parts.push({ type: 'text/html', value: content.html });

  const body: MailSendBody = {
    personalizations: [personalization],
    from: address(content.from),
    subject: content.subject,
    content: parts,
  };
  if (content.reply_to) body.reply_to = address(content.reply_to);
  if (content.categories.length > 0) body.categories = content.categories;
  // Validation refuses reserved names; one stored before it was reserved is left out here, so
  // no message can re-address itself (Resent-Bcc) or forge our headers, whenever it was accepted.
  const headers = Object.entries(content.headers).filter(([name]) => !isReservedHeader(name));
  if (headers.length > 0) body.headers = Object.fromEntries(headers);
  if (content.attachments.length > 0) {
    // SendGrid's own names: an inline file shows where the HTML names its content_id (cid:…).
    body.attachments = content.attachments.map((a) => ({
      content: a.content,
      type: a.content_type,
      filename: a.filename,
      disposition: a.disposition === 'inline' ? 'inline' : 'attachment',
      ...(a.content_id !== undefined ? { content_id: a.content_id } : {}),
    }));
  }
  return body;
}
