import { WORKER_GONE_AFTER_MS } from '../../domain/provider-circuit.ts';
import {
  freshReports,
  type ProviderMismatch,
  pausedProviderAdvice,
  workersProviderMismatch,
  workersProviders,
  worstReport,
} from '../../domain/provider-health.ts';
import type { ConsoleDeps } from '../deps.ts';
import { type Html, html, time } from '../html.ts';

/**
 * Why queued mail is not going out although nothing is wrong with it: the configured provider is
 * held (unavailable, throttled, paused) as the running workers see it. Shown on the overview, the
 * unsent page and a waiting message's page, so mail held by an outage does not look merely slow,
 * and a paused provider (which does not recover by itself) says what to do. Empty while it is
 * healthy. While workers send through another provider than this process's, that comes first.
 */
export async function providerHold(deps: ConsoleDeps, now: number): Promise<Html | ''> {
  const name = deps.providers.configured;
  const reports = await deps.providers.health.list();
  const mismatch = workersProviderMismatch(reports, name, now);
  if (mismatch) return mismatchBanner(mismatch);
  const worst = worstReport(freshReports(reports, now), name);
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

/**
 * A deployment whose processes disagree on TEGAMI_PROVIDER: this process's own provider (with no
 * worker, or not all of them) cannot tell why mail waits, and "is a worker running?" would send
 * on-call to the wrong place. Shown whatever its own provider's state, in place of that line.
 */
function mismatchBanner(m: ProviderMismatch): Html {
  return html`<div class="error" role="alert" id="provider-mismatch"><p><strong>Workers send through another provider than this process.</strong> The process serving the console is configured with TEGAMI_PROVIDER=${m.configured}, but the workers that reported in the last ${WORKER_GONE_AFTER_MS / 1000} s send through ${workersProviders(m)}. Give every process the same TEGAMI_PROVIDER; until then, why mail waits cannot be told here.</p></div>`;
}
