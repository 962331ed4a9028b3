import { domainToASCII } from 'node:url';
import libmime from 'libmime';
import { isPriority, PRIORITIES } from '../domain/priority.ts';
import type { Address, Attachment } from '../domain/types.ts';
import {
  isReservedHeader,
  MAX_HEADER_VALUE_LENGTH,
  type MessageInput,
} from '../domain/validate-message.ts';

/**
 * Mail handed to Tegami over SMTP, read into the same input as `POST /v1/messages`, which then
 * checks it by the same rules (domain/validate-message.ts). Pure, so that the mapping is tested
 * without a server: smtp/server.ts parses the MIME (mailparser) and hands over this subset.
 */

export interface MailAddress {
  address?: string;
  name?: string;
  /** A group (`Friends: a@x, b@y;`): its members. */
  group?: MailAddress[];
}

/** What mailparser's `simpleParser` reads from a message, as far as Tegami uses it. */
export interface ParsedMailLike {
  from?: { value: MailAddress[] };
  to?: { value: MailAddress[] } | { value: MailAddress[] }[];
  cc?: { value: MailAddress[] } | { value: MailAddress[] }[];
  replyTo?: { value: MailAddress[] };
  subject?: string;
  text?: string;
  html?: string | false;
  attachments: {
    filename?: string;
    contentType: string;
    content: Buffer;
    /** The Content-ID without its `<>`. */
    cid?: string;
    /** `inline` or `attachment` (mailparser's default for a file without the header). */
    contentDisposition?: string;
    /** True for a part with a Content-ID inside multipart/related: the HTML shows it. */
    related?: boolean;
    /** The part's own header fields, by lower-case name. */
    headers?: { has(name: string): boolean };
  }[];
  /** Every header line as written (folded lines joined by mailparser). */
  headerLines: { key: string; line: string }[];
}

/** The SMTP envelope: who the client said it sends for, and to whom. */
export interface Envelope {
  mailFrom: string | null;
  rcptTo: string[];
}

/**
 * Headers that steer Tegami rather than travel with the mail (`X-Tegami-*` is reserved for that,
 * so none of them is passed on): SMTP has no fields for categories, metadata or a priority.
 */
export const CONTROL_HEADERS = {
  categories: 'x-tegami-categories',
  metadata: 'x-tegami-metadata',
  priority: 'x-tegami-priority',
  sendAt: 'x-tegami-send-at',
} as const;

/** The control headers as they are written, for a refusal that names them. */
const CONTROL_HEADER_NAMES =
  'X-Tegami-Categories, X-Tegami-Metadata, X-Tegami-Priority and X-Tegami-Send-At';

/**
 * The id Tegami writes into every mail it renders: a mail sent again as it was received (a
 * forward of the file, a bounce re-submitted) carries it, and it is dropped without a word.
 */
const OUR_ID_HEADER = 'x-tegami-message-id';

/**
 * Header fields passed on as the application wrote them: threading and unsubscribe links, and
 * every `X-` field not reserved. Others (Received, DKIM-Signature, MIME's own) describe this hop
 * or are written again when the mail is built.
 */
const PASSED_ON = new Set([
  'in-reply-to',
  'references',
  'list-unsubscribe',
  'list-unsubscribe-post',
]);

/**
 * References grows by one Message-ID with each reply, and a long thread's passes 998 characters,
 * which the API refuses. Shortened as RFC 5322 (3.6.4) and mail clients do: the first Message-ID
 * (the thread's start) and as many of the last as fit.
 */
export function shortenedReferences(value: string): string {
  if (value.length <= MAX_HEADER_VALUE_LENGTH) return value;
  const ids = value.split(/\s+/).filter((id) => id !== '');
  const first = ids[0] ?? '';
  const last: string[] = [];
  let length = first.length;
  for (let i = ids.length - 1; i > 0; i--) {
    const id = ids[i] ?? '';
    if (length + 1 + id.length > MAX_HEADER_VALUE_LENGTH) break;
    last.unshift(id);
    length += 1 + id.length;
  }
  return [first, ...last].join(' ');
}

export type MailMapping = { input: MessageInput } | { refusal: string };

/**
 * An address with its domain in ASCII (`xn--…`). smtp-server and mailparser both turn an IDN's
 * punycode into Unicode (`guest@xn--r8jz45g.jp` becomes `guest@例え.jp`), which the API does not
 * take; the ASCII form is the same mailbox. Left as it is when the domain is no host name.
 */
export function asciiDomain(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 0) return email;
  const domain = email.slice(at + 1);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII is the range being tested
  if (/^[\x00-\x7f]*$/.test(domain)) return email;
  const ascii = domainToASCII(domain);
  return ascii ? `${email.slice(0, at)}@${ascii}` : email;
}

function addressesOf(field: ParsedMailLike['to']): Address[] {
  const out: Address[] = [];
  const visit = (a: MailAddress) => {
    if (a.group) for (const member of a.group) visit(member);
    else if (a.address) {
      const email = asciiDomain(a.address);
      out.push(a.name ? { email, name: a.name } : { email });
    }
  };
  for (const part of field === undefined ? [] : ([] as { value: MailAddress[] }[]).concat(field)) {
    for (const a of part.value) visit(a);
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A header line as text. mailparser gives each line's bytes as a binary string (one character
 * per byte), so a header written in UTF-8 (SMTPUTF8, or any client writing 8-bit headers) would
 * read as mojibake, its bytes 0x80-0x9F as control characters. Bytes that are no UTF-8 are read
 * as Latin-1, as they came.
 */
function headerText(line: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII is the range being tested
  if (/^[\x00-\x7f]*$/.test(line) || !/^[\x00-\xff]*$/.test(line)) return line;
  try {
    return utf8.decode(Buffer.from(line, 'latin1'));
  } catch {
    return line;
  }
}

/** A header line's value: after `Name:`, unfolded, trimmed. */
function headerValue(line: string): string {
  const text = headerText(line);
  return text
    .slice(text.indexOf(':') + 1)
    .replace(/\r?\n[ \t]/g, ' ')
    .trim();
}

export function mailToMessage(mail: ParsedMailLike, envelope: Envelope): MailMapping {
  // The envelope says who gets the mail; the headers only how they are shown. A header address
  // the envelope leaves out gets nothing (as with any mail server), and an envelope recipient
  // absent from To and Cc is a Bcc.
  const remaining = new Map(
    envelope.rcptTo.map((r) => asciiDomain(r)).map((r) => [r.toLowerCase(), r]),
  );
  const take = (header: Address[]) => {
    const taken: Address[] = [];
    for (const a of header) {
      const key = a.email.toLowerCase();
      if (remaining.has(key)) {
        remaining.delete(key);
        taken.push(a);
      }
    }
    return taken;
  };
  const to = take(addressesOf(mail.to));
  const cc = take(addressesOf(mail.cc));
  const bcc = [...remaining.values()].map((email) => ({ email }));
  if (to.length === 0) {
    return {
      refusal:
        'none of the recipients is in the To: header; put at least one of them there (Tegami does not send mail with Bcc recipients only)',
    };
  }
  const from =
    addressesOf(mail.from)[0] ??
    (envelope.mailFrom ? { email: asciiDomain(envelope.mailFrom) } : null);
  if (!from) return { refusal: 'the mail has no From: header and no envelope sender' };

  const headers: Record<string, string> = {};
  const controls = new Map<string, string>();
  for (const { key, line } of mail.headerLines) {
    // Read as the value is: a name written in UTF-8 (not a valid one, but named in a refusal)
    // would otherwise read as mojibake.
    const text = headerText(line);
    const name = text.slice(0, text.indexOf(':')).trim();
    // A client encodes what is not plain ASCII, and nodemailer JSON too (`=?UTF-8?Q?…?=`,
    // RFC 2047); mailparser leaves the fields it does not know as written.
    const value = libmime.decodeWords(headerValue(line)).trim();
    if ((Object.values(CONTROL_HEADERS) as string[]).includes(key)) {
      controls.set(key, value);
    } else if (key.startsWith('x-tegami-') && key !== OUR_ID_HEADER) {
      // A misspelt control header (X-Tegami-Category) would vanish, and its mail go out without
      // the categories or the schedule it was meant to have: refused, naming the ones we read.
      return {
        refusal: `${name} is not a header Tegami reads; X-Tegami-* headers are ${CONTROL_HEADER_NAMES}`,
      };
    } else if (PASSED_ON.has(key)) {
      headers[name] =
        key === 'references' ? shortenedReferences(headerValue(line)) : headerValue(line);
    } else if (key.startsWith('x-') && !isReservedHeader(key)) {
      headers[name] = value;
    }
  }

  const input: MessageInput = {
    from,
    to,
    ...(cc.length > 0 ? { cc } : {}),
    ...(bcc.length > 0 ? { bcc } : {}),
    subject: mail.subject ?? '',
    ...(mail.text ? { text: mail.text } : {}),
    ...(mail.html ? { html: mail.html } : {}),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
  };
  const replyTo = addressesOf(mail.replyTo)[0];
  if (replyTo) input.reply_to = replyTo;
  if (mail.attachments.length > 0) {
    input.attachments = mail.attachments.map((a, i) => {
      const attachment: Attachment = {
        filename: a.filename ?? `attachment-${i + 1}`,
        content: a.content.toString('base64'),
        content_type: a.contentType,
      };
      // The Content-ID keeps the HTML's cid: links working. A part with one is inline when it
      // says so, or when it says nothing and sits in multipart/related beside the HTML that shows
      // it (mailparser reads a file without a disposition as `attachment`). An inline part
      // without a Content-ID is a plain attachment: nothing links to it.
      if (a.cid) {
        attachment.content_id = a.cid;
        const unsaid = a.related === true && a.headers?.has('content-disposition') === false;
        if (a.contentDisposition === 'inline' || unsaid) attachment.disposition = 'inline';
      }
      return attachment;
    });
  }

  const categories = controls.get(CONTROL_HEADERS.categories);
  if (categories !== undefined) {
    input.categories = categories
      .split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '');
  }
  const metadata = controls.get(CONTROL_HEADERS.metadata);
  if (metadata !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(metadata);
    } catch {
      return { refusal: 'X-Tegami-Metadata must be a JSON object of text values' };
    }
    if (
      typeof parsed !== 'object' ||
      parsed === null ||
      Array.isArray(parsed) ||
      !Object.values(parsed).every((v) => typeof v === 'string')
    ) {
      return { refusal: 'X-Tegami-Metadata must be a JSON object of text values' };
    }
    input.metadata = parsed as Record<string, string>;
  }
  const priority = controls.get(CONTROL_HEADERS.priority);
  if (priority !== undefined) {
    if (!isPriority(priority)) {
      return { refusal: `X-Tegami-Priority must be one of: ${PRIORITIES.join(', ')}` };
    }
    input.priority = priority;
  }
  const sendAt = controls.get(CONTROL_HEADERS.sendAt);
  if (sendAt !== undefined) input.send_at = sendAt;
  return { input };
}
