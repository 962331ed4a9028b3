import MailComposer from 'nodemailer/lib/mail-composer';
import { encodeWord, foldLines } from 'nodemailer/lib/mime-funcs';
import MimeNode from 'nodemailer/lib/mime-node';
import type { Address, OutboundMessage } from '../domain/types.ts';
import { ASCII_ONLY_HEADERS, isReservedHeader } from '../domain/validate-message.ts';

/**
 * Carries the message id in every rendered mail. Spelled as it appears in the mail: nodemailer
 * writes a header name ending in "-Id" as "-ID" whatever it is given.
 */
export const TEGAMI_ID_HEADER = 'X-Tegami-Message-ID';

function formatAddress(address: Address): { name: string; address: string } | string {
  // A display name is a phrase, whose runs of whitespace mean one space (RFC 5322 section
  // 3.2.2); a long run was folded into a line of whitespace only.
  const name = address.name?.replace(/[ \t]+/g, ' ').trim();
  return name ? { name, address: address.email } : address.email;
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
    .flatMap(([key, value]) => {
      const written = headerValue(key, value);
      return written === null ? [] : [{ key, value: written }];
    });
  const subject = headerValue('Subject', content.subject);
  // A prepared value is taken as a header, not as the subject option.
  if (typeof subject !== 'string') headers.unshift({ key: 'Subject', value: subject ?? '' });
  const composer = new MailComposer({
    from: formatAddress(content.from),
    to: content.to.map(formatAddress),
    cc: content.cc.map(formatAddress),
    bcc: content.bcc.map(formatAddress),
    ...(content.reply_to ? { replyTo: formatAddress(content.reply_to) } : {}),
    ...(typeof subject === 'string' ? { subject } : {}),
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

/** RFC 5322's limit on a line, CRLF excluded. */
const MAX_LINE = 998;

type PreparedValue = { value: string; prepared: true; foldLines: true };

/**
 * A header's value for the composer, or null to leave the header out. nodemailer encodes
 * unstructured text (RFC 2047 for non-ASCII) and folds the line at 76 characters, but only at
 * whitespace, so a run of spaces or tabs across the fold made a continuation line of whitespace
 * only (obsolete syntax, RFC 5322 section 4.2), and a long value without spaces a line over 998
 * characters. Trailing whitespace is dropped (it means nothing, and ran across the fold most
 * often); a value that would still fold so is written as encoded words instead, which keep
 * every space and fold between any two of them.
 */
function headerValue(key: string, value: string): string | PreparedValue | null {
  if (ASCII_ONLY_HEADERS.has(key.toLowerCase())) {
    // Validation refuses non-ASCII here; one stored before that rule is not written as raw
    // 8-bit bytes. Message-IDs are separated by whitespace, of any length: one space does.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII is the range being tested
    if (!/^[\x00-\x7f]*$/.test(value)) return null;
    return value.replace(/[ \t]+/g, ' ').trim();
  }
  const text = value.replace(/[ \t]+$/, '');
  const lines = foldLines(`${key}: ${MimeNode.encodeHeaderValue(key, text)}`, 76).split('\r\n');
  const blank = lines.slice(1).some((line) => !/[^ \t]/.test(line));
  if (!blank && lines.every((line) => line.length <= MAX_LINE)) return text;
  return { value: encodeWord(text, 'Q', 52), prepared: true, foldLines: true };
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
