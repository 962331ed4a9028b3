import MailComposer from 'nodemailer/lib/mail-composer';
import type { Address, OutboundMessage } from '../domain/types.ts';
import { isReservedHeader } from '../domain/validate-message.ts';

/**
 * Carries the message id in every rendered mail. Spelled as it appears in the mail: nodemailer
 * writes a header name ending in "-Id" as "-ID" whatever it is given.
 */
export const TEGAMI_ID_HEADER = 'X-Tegami-Message-ID';

function formatAddress(address: Address): { name: string; address: string } | string {
  return address.name ? { name: address.name, address: address.email } : address.email;
}

/**
 * The RFC 5322 message as it would go out, built with nodemailer's MIME composer (UTF-8, encoded
 * words for non-ASCII headers, base64 or quoted-printable bodies). Bcc is not written into the
 * headers; it only belongs to the envelope.
 */
export async function renderMime(message: OutboundMessage, date = new Date()): Promise<Buffer> {
  const { content } = message;
  // Validation refuses reserved names; a message stored before a name was reserved must still
  // not carry it (a lower-case `x-tegami-message-id` would sit next to ours as a second one).
  // Given as a list of pairs: nodemailer reads an object with `key` and `value` properties as
  // one header, so the headers `key: Sender` and `value: ceo@…` became a Sender line, and every
  // other header, our id included, was dropped.
  const headers = Object.entries(content.headers)
    .filter(([name]) => !isReservedHeader(name))
    .map(([key, value]) => ({ key, value }));
  const composer = new MailComposer({
    from: formatAddress(content.from),
    to: content.to.map(formatAddress),
    cc: content.cc.map(formatAddress),
    bcc: content.bcc.map(formatAddress),
    ...(content.reply_to ? { replyTo: formatAddress(content.reply_to) } : {}),
    subject: content.subject,
    ...(content.text !== undefined ? { text: content.text } : {}),
    ...(content.html !== undefined ? { html: content.html } : {}),
    headers: [...headers, { key: TEGAMI_ID_HEADER, value: message.id }],
    // Our own id makes the Message-ID stable across attempts (and cheaper than a random one).
    date,
    messageId: `<${message.id}@${content.from.email.split('@')[1] ?? 'tegami'}>`,
    attachments: content.attachments.map((a) => ({
      filename: a.filename,
      content: a.content,
      encoding: 'base64',
      contentType: attachedType(a.content_type),
    })),
  });
  return composer.compile().build();
}

/**
 * A `multipart/*` type would make nodemailer treat the file as a container of parts and write a
 * part it never opens: the mail is broken. Such a file is attached as the bytes it is.
 */
function attachedType(type: string): string {
  return /^multipart\//i.test(type) ? 'application/octet-stream' : type;
}

export function envelopeRecipients(message: OutboundMessage): string[] {
  const { to, cc, bcc } = message.content;
  return [...to, ...cc, ...bcc].map((a) => a.email);
}
