import { WORKER_GONE_AFTER_MS } from '../../domain/provider-circuit.ts';
import { freshReports, pausedProviderAdvice, worstReport } from '../../domain/provider-health.ts';
import type { ConsoleDeps } from '../deps.ts';
import { type Html, html, time } from '../html.ts';

/**
 * Why queued mail is not going out although nothing is wrong with it: the configured provider is
 * held (unavailable, throttled, paused) as the running workers see it. Shown on the unsent page
 * and on a waiting message's page, so mail held by an outage does not look merely slow, and a
 * paused provider (which does not recover by itself) says what to do. Empty while it is healthy.
 */
export async function providerHold(deps: ConsoleDeps, now: number): Promise<Html | ''> {
  const name = deps.providers.configured;
  const worst = worstReport(freshReports(await deps.providers.health.list(), now), name);
  if (!worst) {
    return html`<p class="error" role="alert">No worker has reported for provider ${name} in the last ${WORKER_GONE_AFTER_MS / 1000} s: queued mail is not being sent. Is a worker running?</p>`;
  }
  const { state, since, reason } = worst.snapshot;
  if (state === 'healthy') return '';
  const todo =
    state === 'paused'
      ? `${pausedProviderAdvice(name)} Queued mail waits until then.`
      : 'Queued mail waits and goes out by itself when the provider recovers.';
  return html`<p class="error" role="alert">Provider ${name} is <strong>${state}</strong>${since ? html` since ${time(since)}` : ''}: ${reason ?? 'no reason given'}. ${todo}</p>`;
}
