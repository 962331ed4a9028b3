import { roleAllows } from '../../domain/console-users.ts';
import { WORKER_GONE_AFTER_MS } from '../../domain/provider-circuit.ts';
import {
  freshReports,
  type ProviderMismatch,
  pausedProviderAdvice,
  probeRequest,
  workersProviderMismatch,
  workersProviders,
  worstReport,
} from '../../domain/provider-health.ts';
import { backPath } from '../back.ts';
import type { ConsoleDeps } from '../deps.ts';
import { type Html, html, time } from '../html.ts';
import { csrf } from '../layout.ts';
import { ConsoleError, type ConsoleRequestState } from '../session.ts';

/**
 * The query field of a page that says a probe was just asked for (`probed=sendgrid`): the
 * answer of Probe now goes back to the page it was pressed on with it.
 */
export const PROBED = 'probed';

/** Who looks at the banner, and the page it is on (where Probe now comes back to). */
export interface HoldViewer {
  state: ConsoleRequestState;
  /** The page's own path and query, as request.url has it. */
  url: string;
}

/**
 * Whether the user may ask for a probe: an admin of every unit, as only an admin key may by the
 * API (OperationsService.requestProbe); a probe is of the provider every unit sends through.
 */
export function canProbe(state: ConsoleRequestState): boolean {
  return roleAllows(state.user.role, 'administer') && state.scope.kind === 'all';
}

/**
 * `path` (a path backPath took) with `probed` set to `provider`, or taken out (null): the page
 * Probe now comes back to, and the page a banner's form names (without the last probe's notice).
 */
export function withProbed(path: string, provider: string | null): string {
  const url = new URL(path, 'http://console.invalid');
  if (provider === null) url.searchParams.delete(PROBED);
  else url.searchParams.set(PROBED, provider);
  return `${url.pathname}${url.search}`;
}

/**
 * Said above the banner on the page Probe now comes back to: when the probe was asked for, read
 * from what was stored (the last request of that provider's, whoever made it), so a link cannot
 * make it say another time; a `probed` naming no provider ever probed is a 400.
 */
export async function probeNotice(
  deps: ConsoleDeps,
  probed: string | undefined,
): Promise<Html | ''> {
  if (probed === undefined || probed === '') return '';
  const at = await deps.operations.probeRequestedAt(probed);
  if (at === null) throw new ConsoleError(400, 'No probe of that provider has been asked for.');
  return html`<div class="card notice" role="status" id="probe-requested"><p>Probe requested for provider <strong>${probed}</strong> at ${time(at)}: the workers try one message now; this banner clears when it succeeds.</p></div>`;
}

/**
 * Why queued mail is not going out although nothing is wrong with it: the configured provider is
 * held (unavailable, throttled, paused) as the running workers see it. Shown on the overview, the
 * unsent page and a waiting message's page, so mail held by an outage does not look merely slow,
 * and a paused provider (which does not recover by itself) says what to do. Empty while it is
 * healthy. While workers send through another provider than this process's, that comes first.
 */
export async function providerHold(
  deps: ConsoleDeps,
  now: number,
  viewer: HoldViewer,
): Promise<Html | ''> {
  const name = deps.providers.configured;
  const reports = await deps.providers.health.list();
  const mismatch = workersProviderMismatch(reports, name, now);
  if (mismatch) return mismatchBanner(mismatch);
  const worst = worstReport(freshReports(reports, now), name);
  if (!worst) {
    return html`<p class="error" role="alert">No worker has reported for provider ${name} in the last ${WORKER_GONE_AFTER_MS / 1000} s: queued mail is not being sent. Is a worker running?</p>`;
  }
  const { state, since, reason, nextCheckAt } = worst.snapshot;
  if (state === 'healthy') return '';
  const what = html`Provider ${name} is <strong>${state}</strong>${since ? html` since ${time(since)}` : ''}: ${reason ?? 'no reason given'}.`;
  // When the workers try the provider again by themselves, as the worker that reported it said;
  // a time already past is not said (the check is under way, or that worker has stopped).
  const nextCheck = nextCheckAt !== null && nextCheckAt > now ? nextCheckAt : null;
  if (state === 'paused') return pausedBanner(name, what, viewer, nextCheck);
  const next = nextCheck ? html` The workers check it next at ${time(nextCheck)}.` : '';
  return html`<p class="error" role="alert">${what} Queued mail waits and goes out by itself when the provider recovers.${next}</p>`;
}

/**
 * A paused provider waits for someone to fix the account and then ask for a probe (else the
 * workers try again only every TEGAMI_PROVIDER_PAUSE_CHECK_MS). An admin of every unit asks
 * here with Probe now, a form after the alert's words (a button inside an alert would be read
 * out with it); anyone else is told who can.
 */
function pausedBanner(
  name: string,
  what: Html,
  viewer: HoldViewer,
  nextCheck: number | null,
): Html {
  const admin = canProbe(viewer.state);
  const step = admin ? 'press Probe now' : 'an admin of every unit presses Probe now here';
  const advice = pausedProviderAdvice(name).replace(probeRequest(name), step);
  const here = withProbed(backPath(viewer.url) ?? '/console', null);
  const form = admin
    ? html`<form method="post" action="/console/providers/${encodeURIComponent(name)}/probe" class="inline">${csrf(viewer.state)}<input type="hidden" name="back" value="${here}"><button type="submit">Probe now</button></form>`
    : '';
  // Without a probe the workers still look by themselves, rarely: said so on-call knows the
  // mail will not wait forever, and that a probe is what makes it go now.
  const until = nextCheck
    ? html`until then, or until the workers check by themselves at ${time(nextCheck)}`
    : 'until then';
  return html`<div class="error" id="provider-paused"><p role="alert">${what} ${advice} Queued mail waits ${until}.</p>${form}</div>`;
}

/**
 * A deployment whose processes disagree on TEGAMI_PROVIDER: this process's own provider (with no
 * worker, or not all of them) cannot tell why mail waits, and "is a worker running?" would send
 * on-call to the wrong place. Shown whatever its own provider's state, in place of that line.
 */
function mismatchBanner(m: ProviderMismatch): Html {
  return html`<div class="error" role="alert" id="provider-mismatch"><p><strong>Workers send through another provider than this process.</strong> The process serving the console is configured with TEGAMI_PROVIDER=${m.configured}, but the workers that reported in the last ${WORKER_GONE_AFTER_MS / 1000} s send through ${workersProviders(m)}. Give every process the same TEGAMI_PROVIDER; until then, why mail waits cannot be told here.</p></div>`;
}
