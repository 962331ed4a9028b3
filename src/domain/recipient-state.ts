/**
 * What finally happened to one recipient of one message, derived from the provider's delivery
 * events. The derived status is a pure function of the *set* of events: it does not depend on the
 * order they arrive in, and a duplicate changes nothing. That is what makes SendGrid's retries
 * (duplicates for up to 24 hours) and out-of-order batches harmless.
 *
 * Each delivery event has a rank; the recipient's status is the one of its highest-ranked event,
 * ties broken by the event's time, then by its id:
 *
 * | event                    | status      | rank | meaning                                         |
 * | ------------------------ | ----------- | ---- | ----------------------------------------------- |
 * | processed                | `accepted`  | 1    | the provider took it and will try to deliver    |
 * | deferred                 | `deferred`  | 2    | the receiving server said "try later"           |
 * | delivered                | `delivered` | 3    | the receiving server accepted it                |
 * | bounce (type `blocked`)  | `blocked`   | 4    | refused, often for reputation; final failure    |
 * | bounce                   | `bounced`   | 4    | the address does not take mail; final failure   |
 * | dropped                  | `dropped`   | 4    | the provider would not send it; final failure   |
 *
 * So `delivered` followed by a late `deferred` stays `delivered`, and a bounce after `delivered`
 * (an asynchronous bounce) wins, whichever arrives first. Engagement events (`open`, `click`,
 * `spamreport`, `unsubscribe`, `group_unsubscribe`, `group_resubscribe`) are kept in the timeline
 * and never change the delivery status; spam reports and unsubscribes feed the suppression list.
 */

export const DELIVERY_STATUSES = [
  'accepted',
  'deferred',
  'delivered',
  'blocked',
  'bounced',
  'dropped',
] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** The delivery status an event stands for, or null for engagement and unknown events. */
export function statusOfEvent(event: string, bounceType?: string | null): DeliveryStatus | null {
  switch (event) {
    case 'processed':
      return 'accepted';
    case 'deferred':
      return 'deferred';
    case 'delivered':
      return 'delivered';
    case 'bounce':
      return bounceType === 'blocked' ? 'blocked' : 'bounced';
    case 'dropped':
      return 'dropped';
    default:
      return null;
  }
}

const RANK: Record<DeliveryStatus, number> = {
  accepted: 1,
  deferred: 2,
  delivered: 3,
  blocked: 4,
  bounced: 4,
  dropped: 4,
};

export const FINAL_FAILURES: readonly DeliveryStatus[] = ['blocked', 'bounced', 'dropped'];

/**
 * Provider events sent only for mail the provider accepted: one of them proves that a send whose
 * answer never came went through.
 */
export const PROOF_OF_ACCEPTANCE: readonly string[] = [
  'processed',
  'deferred',
  'delivered',
  'bounce',
  'dropped',
];

/** The strongest delivery event seen so far for a recipient. */
export interface DeliveryMark {
  status: DeliveryStatus;
  /** The event's own time (epoch ms). */
  at: number;
  eventId: string;
}

/** True when `candidate` should replace `current`. A total order, so the fold is commutative. */
export function outranks(candidate: DeliveryMark, current: DeliveryMark | null): boolean {
  if (!current) return true;
  const byRank = RANK[candidate.status] - RANK[current.status];
  if (byRank !== 0) return byRank > 0;
  if (candidate.at !== current.at) return candidate.at > current.at;
  return candidate.eventId > current.eventId;
}

/** Folds events into the final mark: the same result for any order and any duplicates. */
export function foldMarks(marks: DeliveryMark[]): DeliveryMark | null {
  let best: DeliveryMark | null = null;
  for (const mark of marks) if (outranks(mark, best)) best = mark;
  return best;
}
