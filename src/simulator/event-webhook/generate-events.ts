import { randomBytes } from 'node:crypto';

export interface AcceptedSend {
  /** The X-Message-Id answered to the client. */
  xMessageId: string;
  /** When the send was accepted, in milliseconds since the epoch. */
  receivedAt: number;
  /** The validated mail/send JSON body. */
  // biome-ignore lint/suspicious/noExplicitAny: the body is validated JSON of a large, loose shape
  body: any;
}

/** One event as posted: SendGrid's field names, custom_args flattened onto the top level. */
export type SendGridEvent = Record<string, unknown>;

/** What happens to a recipient, chosen by the local part of its address (before any `+`). */
export type Outcome =
  | 'deliver'
  | 'bounce'
  | 'block'
  | 'defer'
  | 'drop'
  | 'open'
  | 'click'
  | 'spam'
  | 'unsubscribe';

const PATTERNS: ReadonlySet<string> = new Set([
  'bounce',
  'block',
  'defer',
  'drop',
  'open',
  'click',
  'spam',
  'unsubscribe',
]);

/** `bounce@x`, `Bounce+anything@x` → bounce; an unknown local part → deliver. */
export function outcomeFor(email: string): Outcome {
  const at = email.lastIndexOf('@');
  const local = (at < 0 ? email : email.slice(0, at)).toLowerCase();
  const plus = local.indexOf('+');
  const prefix = plus < 0 ? local : local.slice(0, plus);
  return PATTERNS.has(prefix) ? (prefix as Outcome) : 'deliver';
}

/** Values used in generated events (fixed, so tests and docs can name them). */
export const SIMULATED = {
  sendingIp: '198.51.100.25',
  recipientIp: '203.0.113.7',
  userAgent:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  deliveredResponse: '250 OK',
  deferredResponse: '451 4.7.1 Temporarily deferred, please try again later',
  bounceReason: '550 5.1.1 The email account that you tried to reach does not exist.',
  bounceStatus: '5.1.1',
  bounceClassification: 'Invalid Address',
  blockReason: '554 5.7.1 Service unavailable; client host blocked using a reputation list',
  blockStatus: '5.7.1',
  blockClassification: 'Reputation',
  dropReason: 'Bounced Address',
  dropStatus: '5.0.0',
  defaultClickUrl: 'https://example.com/',
  unsubscribeUrl: 'https://sendgrid.simulator.invalid/asm/unsubscribe',
} as const;

/** Top-level names SendGrid owns: a custom arg of that name never replaces them. */
const RESERVED = new Set([
  'email',
  'timestamp',
  'event',
  'smtp-id',
  'sg_event_id',
  'sg_message_id',
  'category',
  'reason',
  'status',
  'response',
  'attempt',
  'type',
  'bounce_classification',
  'ip',
  'tls',
  'useragent',
  'url',
  'url_offset',
  'sg_machine_open',
  'asm_group_id',
  'pool',
  'unique_args',
  'custom_args',
  'marketing_campaign_id',
  'marketing_campaign_name',
  'newsletter',
  '__proto__',
]);

export interface GenerateOptions {
  /** Milliseconds between successive events of one recipient. */
  eventDelayMs: number;
  /** Open + click for every delivered recipient. */
  engagement: boolean;
}

export interface ScheduledEvent {
  /** When the event happens, in milliseconds since the epoch. */
  at: number;
  event: SendGridEvent;
}

// biome-ignore lint/suspicious/noExplicitAny: loose validated JSON
type Json = any;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** v3 allows message-level custom_args as an object; a JSON string of one is accepted too. */
function customArgsOf(value: unknown): Record<string, unknown> {
  if (isObject(value)) return value;
  if (typeof value === 'string') {
    try {
      const parsed = JSON.parse(value);
      if (isObject(parsed)) return parsed;
    } catch {
      // not JSON: no custom args
    }
  }
  return {};
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (!isObject(headers)) return undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && typeof value === 'string' && value.trim() !== '') {
      return value.trim();
    }
  }
  return undefined;
}

/** The first link a recipient could click: an html href, else a URL in the text part. */
function firstLink(body: Json): { url: string; type: 'html' | 'text' } {
  const content: Json[] = Array.isArray(body?.content) ? body.content : [];
  for (const part of content) {
    if (part?.type === 'text/html' && typeof part.value === 'string') {
      const match = /href\s*=\s*["'](https?:\/\/[^"'\s>]+)/i.exec(part.value);
      if (match?.[1]) return { url: match[1], type: 'html' };
    }
  }
  for (const part of content) {
    if (part?.type === 'text/plain' && typeof part.value === 'string') {
      const match = /https?:\/\/[^\s<>"']+/i.exec(part.value);
      if (match) return { url: match[0], type: 'text' };
    }
  }
  return { url: SIMULATED.defaultClickUrl, type: 'html' };
}

/** A small stable id for an IP pool name (SendGrid reports `pool: { name, id }`). */
function poolId(name: string): number {
  let hash = 0;
  for (let i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) % 100_000;
  return hash + 1;
}

/**
 * Every event SendGrid would emit for `send`, each with the time it happens: recipient after
 * recipient (to, cc, bcc of each personalization), a recipient's events `eventDelayMs` apart from
 * the send time (its `send_at` when that is later than `receivedAt`). `newEventId` gives each
 * event its `sg_event_id`. Pure: the same inputs and ids give the same output.
 */
export function generateEvents(
  send: AcceptedSend,
  options: GenerateOptions,
  newEventId: () => string,
): ScheduledEvent[] {
  const body: Json = send.body ?? {};
  if (body.mail_settings?.sandbox_mode?.enable === true) return [];
  const out: ScheduledEvent[] = [];
  const personalizations: Json[] = Array.isArray(body.personalizations)
    ? body.personalizations
    : [];
  const messageArgs = customArgsOf(body.custom_args);
  const categories: unknown = body.categories;
  const category =
    typeof categories === 'string'
      ? categories
      : Array.isArray(categories) && categories.length > 0
        ? [...categories]
        : undefined;
  const asmGroupId = Number.isInteger(body.asm?.group_id) ? (body.asm.group_id as number) : null;
  const poolName = typeof body.ip_pool_name === 'string' ? body.ip_pool_name : null;
  const tracking = body.tracking_settings ?? {};
  const openTracked = tracking.open_tracking?.enable !== false;
  const clickTracked = tracking.click_tracking?.enable !== false;
  const hexSeconds = Math.floor(send.receivedAt / 1000)
    .toString(16)
    .toUpperCase();
  let link: { url: string; type: 'html' | 'text' } | undefined;
  let recipientIndex = 0;

  for (const p of personalizations) {
    const args = { ...messageArgs, ...customArgsOf(p?.custom_args) };
    const argEntries = Object.entries(args).filter(([key]) => !RESERVED.has(key));
    const sendAt = Number.isInteger(p?.send_at) ? p.send_at : body.send_at;
    const start = Number.isInteger(sendAt)
      ? Math.max(send.receivedAt, sendAt * 1000)
      : send.receivedAt;
    const smtpId =
      headerValue(p?.headers, 'message-id') ??
      headerValue(body.headers, 'message-id') ??
      `<${send.xMessageId}@ismtpd-sim>`;
    const recipients: Json[] = [
      ...(Array.isArray(p?.to) ? p.to : []),
      ...(Array.isArray(p?.cc) ? p.cc : []),
      ...(Array.isArray(p?.bcc) ? p.bcc : []),
    ];

    for (const recipient of recipients) {
      const email: unknown = recipient?.email;
      if (typeof email !== 'string') continue;
      const sgMessageId = `${send.xMessageId}.filterdrecv-sim-1-${hexSeconds}-${recipientIndex}.0`;
      recipientIndex++;
      let step = 0;
      const emit = (name: string, fields: Record<string, unknown>, delivery: boolean) => {
        const at = start + step * options.eventDelayMs;
        step++;
        const event: SendGridEvent = { email, timestamp: Math.floor(at / 1000) };
        if (delivery) event['smtp-id'] = smtpId;
        event.event = name;
        if (category !== undefined && name !== 'group_unsubscribe') {
          event.category = Array.isArray(category) ? [...category] : category;
        }
        event.sg_event_id = newEventId();
        event.sg_message_id = sgMessageId;
        Object.assign(event, fields);
        for (const [key, value] of argEntries) if (!Object.hasOwn(event, key)) event[key] = value;
        out.push({ at, event });
      };
      const asm = asmGroupId === null ? {} : { asm_group_id: asmGroupId };
      const pool = poolName === null ? {} : { pool: { name: poolName, id: poolId(poolName) } };

      const outcome = outcomeFor(email);
      if (outcome === 'drop') {
        emit(
          'dropped',
          { reason: SIMULATED.dropReason, status: SIMULATED.dropStatus, ...asm },
          true,
        );
        continue;
      }
      emit('processed', { ...asm, ...pool }, true);
      if (outcome === 'bounce' || outcome === 'block') {
        const hard = outcome === 'bounce';
        emit(
          'bounce',
          {
            reason: hard ? SIMULATED.bounceReason : SIMULATED.blockReason,
            status: hard ? SIMULATED.bounceStatus : SIMULATED.blockStatus,
            type: hard ? 'bounce' : 'blocked',
            bounce_classification: hard
              ? SIMULATED.bounceClassification
              : SIMULATED.blockClassification,
            ip: SIMULATED.sendingIp,
            tls: hard ? 1 : 0,
            ...asm,
          },
          true,
        );
        continue;
      }
      if (outcome === 'defer') {
        for (const attempt of ['1', '2']) {
          emit(
            'deferred',
            { response: SIMULATED.deferredResponse, attempt, ip: SIMULATED.sendingIp, ...asm },
            true,
          );
        }
      }
      emit(
        'delivered',
        { response: SIMULATED.deliveredResponse, ip: SIMULATED.sendingIp, tls: 1, ...asm },
        true,
      );
      const wantsOpen = openTracked && (options.engagement || outcome === 'open');
      const wantsClick = clickTracked && (options.engagement || outcome === 'click');
      if (wantsOpen) {
        emit(
          'open',
          {
            useragent: SIMULATED.userAgent,
            ip: SIMULATED.recipientIp,
            sg_machine_open: false,
            ...asm,
          },
          false,
        );
      }
      if (wantsClick) {
        link ??= firstLink(body);
        emit(
          'click',
          {
            useragent: SIMULATED.userAgent,
            ip: SIMULATED.recipientIp,
            url: link.url,
            url_offset: { index: 0, type: link.type },
            ...asm,
          },
          false,
        );
      }
      if (outcome === 'spam') emit('spamreport', {}, false);
      if (outcome === 'unsubscribe') {
        if (asmGroupId === null) emit('unsubscribe', {}, false);
        else {
          emit(
            'group_unsubscribe',
            {
              useragent: SIMULATED.userAgent,
              ip: SIMULATED.recipientIp,
              url: SIMULATED.unsubscribeUrl,
              asm_group_id: asmGroupId,
            },
            false,
          );
        }
      }
    }
  }
  return out;
}

/** URL-safe 22-character random ids, drawn from a pooled random buffer. */
export function eventIdFactory(): () => string {
  let pool = randomBytes(4096);
  let offset = 0;
  return () => {
    if (offset + 16 > pool.length) {
      pool = randomBytes(4096);
      offset = 0;
    }
    const id = pool.toString('base64url', offset, offset + 16);
    offset += 16;
    return id;
  };
}
