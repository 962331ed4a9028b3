import {
  type ProviderState,
  WORKER_GONE_AFTER_MS,
  worseState,
} from '../../domain/provider-circuit.ts';
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
  const reports = (await deps.providers.health.list()).filter(
    (r) => r.provider === name && now - r.updatedAt <= WORKER_GONE_AFTER_MS,
  );
  if (reports.length === 0) {
    return html`<p class="error" role="alert">No worker has reported for provider ${name} in the last ${WORKER_GONE_AFTER_MS / 1000} s: queued mail is not being sent. Is a worker running?</p>`;
  }
  let state: ProviderState = 'healthy';
  for (const r of reports) state = worseState(state, r.snapshot.state);
  if (state === 'healthy') return '';
  const worst = reports.find((r) => r.snapshot.state === state)?.snapshot;
  const since = worst?.since ? html` since ${time(worst.since)}` : '';
  const todo =
    state === 'paused'
      ? `An account problem (key revoked, sender not verified, quota) does not pass by itself: fix it at the provider, then run a probe (POST /v1/providers/${name}/probe). Queued mail waits until then.`
      : 'Queued mail waits and goes out by itself when the provider recovers.';
  return html`<p class="error" role="alert">Provider ${name} is <strong>${state}</strong>${since}: ${worst?.reason ?? 'no reason given'}. ${todo}</p>`;
}
