import { requestWithout } from './sendgrid-compat/request.ts';
import type {
  Address,
  DeliveryEvent,
  MessageContent,
  SuppressedRecipient,
  SuppressionReason,
} from './types.ts';
import { isValidEmail } from './validate-message.ts';

export { SUPPRESSION_REASONS, type SuppressedRecipient, type SuppressionReason } from './types.ts';

/**
 * The suppression list: addresses Tegami no longer sends to. An address gets on it from a
 * provider's event (hard bounce, spam report, unsubscribe, and optionally a block) or by hand
 * through the API. Each unit has its own entry for an address (an event not matched to a message
 * gives an entry of no unit); an entry made by events is the earliest event's
 * (`compareSuppressionEvents`), whatever order they arrive in, and one added by hand is never
 * changed by events. An address is suppressed for everyone's mail while any entry for it is on
 * the list.
 */
export type SuppressionSource = 'event' | 'api';

export interface Suppression {
  email: string;
  reason: SuppressionReason;
  source: SuppressionSource;
  /** The delivery event that caused it (`sendgrid:<sg_event_id>`); null when added by hand. */
  eventKey: string | null;
  /**
   * The message that event was about, read with a page of the list (not by the claim's
   * look-up): null when added by hand or while the event is not matched to a message.
   */
  messageId?: string | null;
  /** The provider's reason text, when the event had one. */
  detail: string | null;
  createdAt: number;
  /**
   * Whose entry it is: whose mail the event was about, or whose key added it; null (admin keys
   * only) while the event is not matched to a message. Only that unit (and admins) sees and
   * removes it; another unit adding the address gets an entry of its own. The suppression itself
   * holds for every unit's mail: a bouncing address bounces for everyone.
   */
  unitId: string | null;
}

/** An entry as the claim looks it up: whose it is, why, and since when. */
export type SuppressionHit = Pick<Suppression, 'unitId' | 'reason' | 'createdAt'>;

/**
 * Why an address on the list is suppressed for a unit's mail: the reason of the unit's own entry
 * if it has one, else of the first entry recorded (every entry holds for every unit's mail).
 * Null when there is no entry.
 */
export function suppressionReasonFor(
  hits: readonly SuppressionHit[],
  unitId: string,
): SuppressionReason | null {
  const own = hits.find((h) => h.unitId === unitId);
  if (own) return own.reason;
  let first: SuppressionHit | null = null;
  for (const h of hits) if (!first || h.createdAt < first.createdAt) first = h;
  return first?.reason ?? null;
}

/** Every recipient of a message (to, cc, bcc), lower-cased as the suppression list keeps them. */
export function recipientAddresses(content: MessageContent): string[] {
  return [...content.to, ...content.cc, ...content.bcc].map((a) => a.email.toLowerCase());
}

/**
 * The suppression reason a delivery event gives its address, or null if it gives none. Blocks
 * (`bounce` with type `blocked`) are often a passing reputation problem: only with
 * `suppressBlocks`. A bounce without a type is a hard bounce, as for the delivery status.
 * An event whose `email` is not an address (by the rule a message's recipients and an address
 * added by hand are checked with) suppresses nothing: no mail is ever sent to it, so such an
 * entry would only fill the list. The event itself is kept all the same, on its message's
 * timeline.
 */
export function suppressionReasonOf(
  event: Pick<DeliveryEvent, 'event' | 'bounceType' | 'email'>,
  suppressBlocks: boolean,
): SuppressionReason | null {
  if (!isValidEmail(event.email)) return null;
  switch (event.event) {
    case 'bounce':
      if (event.bounceType === 'blocked') return suppressBlocks ? 'blocked' : null;
      return 'bounce';
    case 'spamreport':
      return 'spamreport';
    case 'unsubscribe':
    case 'group_unsubscribe':
      return 'unsubscribe';
    default:
      return null;
  }
}

/**
 * Which of two events decides the suppression entry they both give: negative when `a` does. The
 * event that occurred first; of two at the same time (SendGrid's times are whole seconds), the
 * one whose key comes first in code point order, which is the order of their UTF-8 bytes, so
 * the store can compare keys in SQL the same way. The entry is then the same whatever order the
 * events arrive in, all in one batch or one per batch: "the first reason recorded" would be
 * whichever SendGrid happened to post first.
 */
export function compareSuppressionEvents(
  a: Pick<DeliveryEvent, 'occurredAt' | 'key'>,
  b: Pick<DeliveryEvent, 'occurredAt' | 'key'>,
): number {
  if (a.occurredAt !== b.occurredAt) return a.occurredAt < b.occurredAt ? -1 : 1;
  return compareCodePoints(a.key, b.key);
}

/** Code point order; JavaScript's `<` compares UTF-16 units, which differs past U+FFFF. */
function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i]?.codePointAt(0) ?? 0) - (y[i]?.codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** `guest@example.com (bounce), other@example.com (spamreport)` */
export function describeSuppressed(suppressed: SuppressedRecipient[]): string {
  return suppressed.map((s) => `${s.email} (${s.reason})`).join(', ');
}

/**
 * What is left to send once suppressed addresses are taken out: null when nothing is left.
 * A provider needs at least one `to`: when every `to` is suppressed the remaining `cc` become
 * the `to` (they were visible to everyone anyway). Bcc recipients are never moved into a visible
 * header, so a message whose only remaining recipients are bcc is not sent either.
 */
export function withoutSuppressed(
  content: MessageContent,
  suppressed: SuppressedRecipient[],
): MessageContent | null {
  if (suppressed.length === 0) return content;
  const gone = new Set(suppressed.map((s) => s.email));
  // A SendGrid request forwarded as sent: the same rule, personalization by personalization.
  const origin = content.sendgrid;
  if (origin?.request) {
    const left = requestWithout(origin.request, gone);
    return left ? { ...content, sendgrid: { ...origin, request: left } } : null;
  }
  const keep = (list: Address[]) => list.filter((a) => !gone.has(a.email.toLowerCase()));
  const to = keep(content.to);
  const cc = keep(content.cc);
  const bcc = keep(content.bcc);
  if (to.length > 0) return { ...content, to, cc, bcc };
  if (cc.length > 0) return { ...content, to: cc, cc: [], bcc };
  return null;
}
