import MailComposer from 'nodemailer/lib/mail-composer';
import { encodeWord, foldLines } from 'nodemailer/lib/mime-funcs';
import MimeNode from 'nodemailer/lib/mime-node';
import type { Address, Attachment, OutboundMessage } from '../domain/types.ts';
import {
  ASCII_ONLY_HEADERS,
  isContentId,
  isReservedHeader,
  isStructuredHeader,
  MAX_CONTENT_TYPE_LENGTH,
} from '../domain/validate-message.ts';

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
    attachments: content.attachments.map(attachment),
  });
  return composer.compile().build();
}

/** RFC 5322's limit on a line, CRLF excluded. */
const MAX_LINE = 998;

type PreparedValue = { value: string; prepared: true; foldLines: true };

/** Message-ID lists (RFC 5322 section 3.6.4): whitespace between the ids means one space. */
const MESSAGE_ID_LISTS = new Set(['in-reply-to', 'references']);

/**
 * A header's value for the composer, or null to leave the header out. nodemailer encodes
 * unstructured text (RFC 2047 for non-ASCII) and folds the line at 76 characters, but only at
 * whitespace, so a run of spaces or tabs across the fold made a continuation line of whitespace
 * only (obsolete syntax, RFC 5322 section 4.2), and a long value without spaces a line over 998
 * characters. Trailing whitespace is dropped (it means nothing, and ran across the fold most
 * often); an unstructured value that would still fold so is written as encoded words instead,
 * which keep every space and fold between any two of them. In a structured field a run of
 * whitespace is folding white space, one space as good as many, and a long token stays whole.
 * This rendering is what the sandbox keeps and the console shows; SendGrid is handed the value.
 */
function headerValue(key: string, value: string): string | PreparedValue | null {
  const lower = key.toLowerCase();
  if (ASCII_ONLY_HEADERS.has(lower)) {
    // Validation refuses non-ASCII here; one stored before that rule is not written as raw
    // 8-bit bytes. OTP-Token's quoted strings keep their spaces.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII is the range being tested
    if (!/^[\x00-\x7f]*$/.test(value)) return null;
    return MESSAGE_ID_LISTS.has(lower) ? value.replace(/[ \t]+/g, ' ').trim() : value.trim();
  }
  if (isStructuredHeader(key)) return value.replace(/[ \t]+/g, ' ').trim();
  const text = value.replace(/[ \t]+$/, '');
  const lines = foldLines(`${key}: ${MimeNode.encodeHeaderValue(key, text)}`, 76).split('\r\n');
  const blank = lines.slice(1).some((line) => !/[^ \t]/.test(line));
  if (!blank && lines.every((line) => line.length <= MAX_LINE)) return text;
  return { value: encodeWord(text, 'Q', 52), prepared: true, foldLines: true };
}

/**
 * One attachment for the composer. A file is written in base64, but a `message/*` part may not
 * be encoded (RFC 2046 section 5.2: `message/rfc822` is 7bit, 8bit or binary, `message/partial`
 * and `message/external-body` 7bit only), so it goes out as its bytes, in lines that end in CRLF
 * (an LF alone, as in a file saved on Unix, becomes CRLF), labelled with the encoding that
 * describes them. Binary cannot be sent through every relay, so bytes that fit neither 7bit nor
 * 8bit (NUL, a CR alone, a line over 998 bytes), or not 7bit where only 7bit is allowed, go out as
 * the file they are: `application/octet-stream`, in base64, under the same filename.
 * `message/global` (RFC 6532) may be encoded, and is, in base64.
 */
function attachment(a: Attachment) {
  const type = attachedType(a.content_type);
  // nodemailer folds a quoted filename at its whitespace, so a long run of spaces became a line
  // of whitespace only (which RFC 5322 forbids); a run is written as one space, as for names.
  const filename = a.filename.replace(/[ \t]{2,}/g, ' ');
  const names = partNames(type, filename, a);
  const file = { content: a.content, encoding: 'base64', ...names };
  // The media type without its parameters (message/partial has id, number and total).
  const media = (type.split(';')[0] ?? '').trim().toLowerCase();
  if (!media.startsWith('message/')) return file;
  if (media === 'message/global') return { ...file, contentTransferEncoding: 'base64' };
  const bytes = withCrlf(Buffer.from(a.content, 'base64'));
  const fits = transferEncodingOf(bytes);
  const sevenBitOnly = media === 'message/partial' || media === 'message/external-body';
  if (fits === '7bit' || (fits === '8bit' && !sevenBitOnly)) {
    return { content: bytes, contentTransferEncoding: fits, ...names };
  }
  return {
    content: a.content,
    encoding: 'base64',
    ...partNames('application/octet-stream', filename, a),
  };
}

/**
 * The type, filename, disposition and content ID of an attachment for the composer. For an inline
 * attachment, nodemailer's `cid` writes `Content-ID: <content_id>` and, when the mail has HTML,
 * puts the part beside it in multipart/related, where mail readers resolve `cid:` links. A file to
 * open that has a content ID gets the same header but stays among the attachments
 * (multipart/mixed): nodemailer would put every part with a `cid` in multipart/related, inside
 * multipart/alternative, where a reader showing the text part, or one that hides related parts the
 * HTML does not name, shows no file at all. The disposition is the attachment's own (nodemailer
 * would make every image with a cid inline); without a content ID it is nodemailer's: `inline`
 * for a `message/*` part, else `attachment`. A content ID the rules would refuse (a row edited by
 * hand) is left out, and its attachment is a plain one.
 */
function partNames(type: string, filename: string, a: Attachment) {
  const cid = a.content_id !== undefined && isContentId(a.content_id) ? a.content_id : undefined;
  let disposition: 'attachment' | 'inline' = /^message\//i.test(type) ? 'inline' : 'attachment';
  if (cid !== undefined) disposition = a.disposition === 'inline' ? 'inline' : 'attachment';
  const names = typeAndFilename(type, filename, disposition);
  if (cid === undefined) return names;
  if (disposition === 'inline') return { contentDisposition: disposition, ...names, cid };
  return { contentDisposition: disposition, ...names, headers: { 'Content-ID': `<${cid}>` } };
}

/**
 * The type and filename of an attachment for the composer. nodemailer writes the filename twice:
 * as Content-Disposition's `filename`, in RFC 2231 continuations when it is long, and as
 * Content-Type's `name` (for clients that read only that one) as one quoted string (encoded
 * words when it holds non-ASCII or quotes), folded only at its whitespace: a long filename of
 * ASCII letters without spaces made a line over 998 characters. When nodemailer's own header
 * lines do not fit, the filename is given as a parameter of both headers instead, and nodemailer
 * writes both in RFC 2231 continuations, which keep the whole name however long it is.
 */
function typeAndFilename(
  contentType: string,
  filename: string,
  disposition: 'attachment' | 'inline',
) {
  const lines = new MimeNode(contentType, { filename }).buildHeaders().split('\r\n');
  if (lines.every((line) => line.length <= MAX_LINE)) return { contentType, filename };
  // A quoted string: nodemailer reads it back as the filename, whatever it holds (validation
  // keeps control characters out of filenames).
  const quoted = `"${filename.replace(/["\\]/g, '\\$&')}"`;
  return {
    contentType: `${contentType}; name=${quoted}`,
    contentDisposition: `${disposition}; filename=${quoted}`,
    filename: false as const,
  };
}

/** The bytes with every LF that has no CR before it preceded by one. */
function withCrlf(bytes: Buffer): Buffer {
  let bare = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i - 1] !== 0x0d) bare++;
  }
  if (bare === 0) return bytes;
  const out = Buffer.allocUnsafe(bytes.length + bare);
  let j = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i - 1] !== 0x0d) out[j++] = 0x0d;
    out[j++] = bytes[i] as number;
  }
  return out;
}

/**
 * `7bit` or `8bit` when the bytes are lines of at most 998 bytes ending in CRLF, without NUL or
 * a CR or LF alone (RFC 2045 section 2.7 and 2.8), and ASCII only for `7bit`; otherwise null.
 */
function transferEncodingOf(bytes: Buffer): '7bit' | '8bit' | null {
  let eightBit = false;
  let lineStart = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b === 0x0d) {
      if (bytes[i + 1] !== 0x0a) return null;
      if (i - lineStart > MAX_LINE) return null;
      i++;
      lineStart = i + 1;
    } else if (b === 0x0a || b === 0) {
      return null;
    } else if (b > 0x7f) {
      eightBit = true;
    }
  }
  if (bytes.length - lineStart > MAX_LINE) return null;
  return eightBit ? '8bit' : '7bit';
}

/**
 * A `multipart/*` type would make nodemailer treat the file as a container of parts and write a
 * part it never opens: the mail is broken. Such a file is attached as the bytes it is. So is one
 * whose type is longer than validation allows (stored before the limit): a type is one token, and
 * its line would be longer than 998 characters.
 */
function attachedType(type: string): string {
  return /^multipart\//i.test(type) || type.length > MAX_CONTENT_TYPE_LENGTH
    ? 'application/octet-stream'
    : type;
}

export function envelopeRecipients(message: OutboundMessage): string[] {
  const { to, cc, bcc } = message.content;
  return [...to, ...cc, ...bcc].map((a) => a.email);
}
