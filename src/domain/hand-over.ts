import type { DeliveryHandOff } from './ports/hand-off.ts';
import type { NewMessage, Submission, SubmissionOutcome } from './ports/message-store.ts';
import { DEFAULT_PRIORITY } from './priority.ts';
import type { ClaimedMessage } from './types.ts';

/**
 * Writes a group of submissions through `write`, handing what may go at once to the worker of the
 * same thread (ports/hand-off.ts): as many messages due now as the worker has places for are
 * written leased to it, and once `write` resolves (the commit is durable) the worker gets the
 * ones the store kept leased. The rest queue as always. Whatever happens, the places not used
 * are given back.
 */
export async function writeHandingOver(
  handOff: DeliveryHandOff,
  group: Submission[],
  write: (group: Submission[]) => Promise<SubmissionOutcome[]>,
  now: number,
): Promise<SubmissionOutcome[]> {
  const due = (m: NewMessage) => m.sendAt === null || m.sendAt <= now;
  let wanted = 0;
  for (const s of group) for (const m of s.messages) if (due(m)) wanted++;
  const reservation = wanted > 0 ? handOff.reserve(wanted, now) : null;
  if (!reservation) return write(group);

  const { lease } = reservation;
  let left = reservation.places;
  const leased = new Map<string, NewMessage>();
  const withLeases = group.map((s) => ({
    ...s,
    messages: s.messages.map((m) => {
      if (left === 0 || !due(m)) return m;
      left--;
      const handed = { ...m, lease };
      leased.set(m.id, handed);
      return handed;
    }),
  }));
  let outcomes: SubmissionOutcome[];
  try {
    outcomes = await write(withLeases);
  } catch (error) {
    handOff.deliver(reservation, []);
    throw error;
  }
  const claimed: ClaimedMessage[] = [];
  for (const outcome of outcomes) {
    if (outcome.kind !== 'stored') continue;
    for (const { id, unitId } of outcome.leased ?? []) {
      const m = leased.get(id);
      if (!m) continue;
      claimed.push({
        id,
        unitId,
        priority: m.priority ?? DEFAULT_PRIORITY,
        attemptCount: 1,
        attemptsThisRound: 1,
        leaseOwner: lease.owner,
        content: m.content,
        suppressed: [],
      });
    }
  }
  handOff.deliver(reservation, claimed);
  return outcomes;
}

/**
 * A worker to hand mail to, known once it exists: the stores are made before the worker that
 * uses them. Until then, and without one, every message queues.
 */
export class HandOffSlot implements DeliveryHandOff {
  private target: DeliveryHandOff | null = null;

  attach(target: DeliveryHandOff): void {
    this.target = target;
  }

  reserve(count: number, now: number) {
    return this.target?.reserve(count, now) ?? null;
  }

  deliver(...args: Parameters<DeliveryHandOff['deliver']>): void {
    this.target?.deliver(...args);
  }
}
