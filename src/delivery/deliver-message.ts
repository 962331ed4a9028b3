import type { Logger } from 'pino';
import type { Completion, DeliveryStore } from '../domain/ports/delivery-store.ts';
import type { OutageReporter } from '../domain/ports/outage-reporter.ts';
import type { Provider } from '../domain/ports/provider.ts';
import type { ProviderCircuit, Transition } from '../domain/provider-circuit.ts';
import { type Decision, decideAfterAttempt, type RetryPolicy } from '../domain/retry-policy.ts';
import { describeSuppressed, withoutSuppressed } from '../domain/suppression.ts';
import {
  type ClaimedMessage,
  type MessageContent,
  type SendResult,
  SUPPRESSED_ERROR_CLASS,
} from '../domain/types.ts';

/**
 * The steps of one message, in the order the worker (worker.ts) takes them once it holds the
 * message's lease. Before the claim the worker asked the circuit whether it may send at all
 * (`ProviderCircuit.gate`): a message gets here when the provider is healthy, or as the one probe.
 *
 *   1. leaveOutSuppressed     recipients on the suppression list get nothing
 *   2. sendThroughProvider    one request to the provider; whatever happens, a SendResult
 *   3. recordInCircuit        every answer tells the circuit how the provider is doing
 *   4. decideNext             sent, retry at a time, or dead-letter (domain/retry-policy.ts)
 *   5. logDecision            a failed attempt says what happens next
 *   6. recordAttempt          write the attempt and the decision (DeliveryStore.complete)
 */

/**
 * Tries to write an attempt's result: 250 ms, 0.5 s, 1 s, 2 s, 4 s apart (~8 s in all), then every
 * 4 s for as long as `leaseLeft` says (the worker: until it is stopped, then while the lease lasts).
 */
const COMPLETE_RETRIES = 5;
const COMPLETE_RETRY_MAX_MS = 4000;

/**
 * Step 1. Suppressed recipients are left out: a bounce or complaint must stop all later mail to
 * the address. The store finishes messages with nobody left before they reach the worker; should
 * one get here anyway, it is not sent, and the result says why.
 */
export function leaveOutSuppressed(
  message: ClaimedMessage,
): { content: MessageContent } | { result: SendResult } {
  const content = withoutSuppressed(message.content, message.suppressed);
  if (content) return { content };
  return {
    result: {
      outcome: 'permanent',
      errorClass: SUPPRESSED_ERROR_CLASS,
      detail: `all recipients are suppressed: ${describeSuppressed(message.suppressed)}`,
    },
  };
}

/**
 * Step 2. One request to the provider. Providers report problems as results; one that throws
 * anyway gets a retryable failure, so a bug in an adapter never loses a message. `abandon`
 * (probes only) gives up on a request that hangs after the provider has recovered.
 */
export async function sendThroughProvider(
  provider: Provider,
  message: ClaimedMessage,
  content: MessageContent,
  abandon?: AbortSignal,
): Promise<SendResult> {
  try {
    return await provider.send({ id: message.id, attempt: message.attemptCount, content }, abandon);
  } catch (error) {
    return {
      outcome: 'retryable',
      errorClass: 'provider_exception',
      detail: error instanceof Error ? error.message : String(error),
    };
  }
}

/**
 * Step 3. Every result, a message's own failure included, is evidence about the provider: a
 * proper answer closes the circuit, provider-level failures open it (provider-circuit.ts).
 * Returns the state change it caused, which the worker logs and acts on.
 */
export function recordInCircuit(
  circuit: ProviderCircuit,
  result: SendResult,
  now: number,
  wasProbe: boolean,
  sentAt: number,
): Transition | null {
  return circuit.record(result, now, wasProbe, sentAt);
}

/**
 * Step 4. What happens to the message now (domain/retry-policy.ts). A timeout while the provider
 * answers everything else: it probably took the mail, so wait `confirmationWaitMs` for its
 * delivery event instead of sending again (`waitsForProofUntil`). During an outage, do not wait: the
 * circuit holds the message until the provider is back.
 */
export function decideNext(
  retry: RetryPolicy,
  circuit: ProviderCircuit,
  message: ClaimedMessage,
  result: SendResult,
  now: number,
  confirmationWaitMs: number | undefined,
): { decision: Decision; waitsForProofUntil: number | null } {
  const wait =
    result.outcome === 'unknown' && circuit.current === 'healthy'
      ? confirmationWaitMs || undefined
      : undefined;
  const decision = decideAfterAttempt(
    retry,
    message.attemptsThisRound,
    result,
    now,
    Math.random,
    wait,
  );
  const waitsForProofUntil = wait && decision.kind === 'retry' ? decision.at : null;
  return { decision, waitsForProofUntil };
}

/**
 * The fields every log line about a message's attempt carries, named as in the API, so one
 * query over the JSON logs finds a message, a unit or an error class.
 */
type AttemptLogFields = {
  message_id: string;
  unit: string;
  attempt: number;
  provider: string;
  error_class: string | null;
};

export function attemptLogFields(
  message: ClaimedMessage,
  provider: string,
  result: SendResult,
): AttemptLogFields {
  return {
    message_id: message.id,
    unit: message.unitId,
    attempt: message.attemptCount,
    provider,
    error_class: result.errorClass ?? null,
  };
}

/**
 * Step 5. A dead-lettered message is a warning (someone may have to look); a retry is
 * information, with when it will be.
 */
export function logDecision(
  logger: Logger,
  log: AttemptLogFields,
  result: SendResult,
  decision: Decision,
): void {
  if (decision.kind === 'failed') {
    logger.warn({ ...log, result }, `message dead-lettered: ${decision.reason}`);
  } else if (decision.kind === 'retry') {
    logger.info(
      { ...log, result, retryAt: new Date(decision.at).toISOString() },
      'send failed, will retry',
    );
  }
}

/** What step 6 writes: the attempt row, and the message's new state. */
export function attemptCompletion(
  message: ClaimedMessage,
  provider: string,
  startedAt: number,
  now: number,
  result: SendResult,
  decision: Decision,
): Completion {
  return {
    messageId: message.id,
    leaseOwner: message.leaseOwner,
    now,
    decision,
    ...(message.suppressed.length > 0 ? { suppressed: message.suppressed } : {}),
    attempt: {
      number: message.attemptCount,
      provider,
      startedAt,
      durationMs: now - startedAt,
      outcome: result.outcome,
      httpStatus: result.httpStatus ?? null,
      providerMessageId: result.providerMessageId ?? null,
      errorClass: result.errorClass ?? null,
      detail: result.detail ?? null,
      responseExcerpt: result.responseExcerpt ?? null,
      providerFault: result.providerFault ?? null,
      providerErrors: result.providerErrors ?? null,
      rateLimit: result.rateLimit ?? null,
      networkError: result.networkError ?? null,
    },
  };
}

/**
 * Step 6. Writes the attempt and the decision. The database may be away for a while (a restart,
 * a failover, its connections taken, a full disk): keep trying while `leaseLeft` says, so the
 * result is not lost and the message not sent a second time. False: given up.
 */
export async function recordAttempt(
  store: DeliveryStore,
  completion: Completion,
  outage: OutageReporter,
  logger: Logger,
  log: AttemptLogFields,
  leaseLeft: () => number = () => 0,
): Promise<boolean> {
  for (let retry = 0; ; retry++) {
    try {
      await store.complete(completion);
      outage.succeeded('recording attempt results');
      return true;
    } catch (error) {
      const wait = Math.min(250 * 2 ** retry, COMPLETE_RETRY_MAX_MS);
      if (retry >= COMPLETE_RETRIES) {
        // Past a blip: the outage log counts it (once as a line, then in its summaries).
        outage.failed('recording attempt results', error, log);
        if (leaseLeft() <= wait) {
          // The message will be released and sent again: a possible duplicate, never a loss.
          logger.debug({ ...log }, 'recording the attempt failed; sent again when its lease ends');
          return false;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
