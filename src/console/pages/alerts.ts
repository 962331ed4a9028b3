import type { FastifyInstance } from 'fastify';
import type { Alert } from '../../domain/alerts/lifecycle.ts';
import { consolePath } from '../../domain/alerts/notifications.ts';
import { API_STEP_HINTS } from '../../domain/alerts/rules.ts';
import { count } from '../../domain/count-words.ts';
import type { UndeliveredNotifications } from '../../domain/ports/alert-store.ts';
import { probeRequest } from '../../domain/provider-health.ts';
import type { ConsoleDeps } from '../deps.ts';
import { type Html, html, qs, time } from '../html.ts';
import { page } from '../layout.ts';
import { olderThanCursor } from '../page-link.ts';
import { type Fields, stateOf } from '../session.ts';

/** Past alerts per page of the history. */
const HISTORY_PAGE_SIZE = 50;

/** Firing alerts listed; past it the heading says "more than" (a long outage, many units). */
const FIRING_SHOWN = 100;

/**
 * The console's words for the hints whose step is an API request (`GET /v1/unsent?reason=failed`):
 * here the same step is a page of the console, a click away. Worded here rather than carried by
 * each rule as a second hint: the hint stored with an alert is the one the API, Slack and the alert
 * webhook give, and only the console knows its pages' names; an alert stored before this is shown
 * in these words too (its hint is the same text). The type asks for words for every such hint.
 */
const CONSOLE_HINTS: Record<keyof typeof API_STEP_HINTS, string> = {
  heldByProvider: 'mail is held back by the provider state; check Providers on the Overview',
  noWorker:
    'start a worker (tegami worker or tegami serve) and check it keeps running; Providers on the Overview says "no report" while none does',
  deadLetters:
    'find them in Unsent mail (reason:failed); once the cause is fixed, recover them from there, with a dry run first',
  unconfirmed:
    'Unsent mail (reason:unconfirmed) lists them; if many, the Event Webhook may be losing events',
};

const consoleHints = new Map<string, string>(
  Object.entries(API_STEP_HINTS).map(([name, hint]) => [
    hint,
    CONSOLE_HINTS[name as keyof typeof API_STEP_HINTS],
  ]),
);

/**
 * The console's way to ask for a probe, in place of the API's request (probeRequest) in a paused
 * provider's hints: the button is in the provider's banner on the Overview, for admins of every
 * unit (the banner tells anyone else so).
 */
const CONSOLE_PROBE_STEP = 'an admin of every unit presses Probe now on the Overview';

/** An alert's hint as the console says it. */
export function consoleHint(alert: Pick<Alert, 'hint' | 'evidence'>): string {
  const worded = consoleHints.get(alert.hint);
  if (worded) return worded;
  const provider = alert.evidence.provider?.name;
  return provider ? alert.hint.replace(probeRequest(provider), CONSOLE_PROBE_STEP) : alert.hint;
}

/** What the rule looked at, in words and local times (the API's `evidence`, for people). */
function evidence(e: Alert['evidence']): Html {
  return html`<dl class="fields">
<dt>Count</dt><dd>${e.count.toLocaleString('en')} (threshold ${e.threshold.toLocaleString('en')})</dd>
${e.since !== null ? html`<dt>Since</dt><dd>${time(e.since)}</dd>` : ''}
${e.provider ? html`<dt>Provider</dt><dd>${e.provider.name}: ${e.provider.state}${e.provider.since !== null ? html` since ${time(e.provider.since)}` : ''}${e.provider.reason ? html` (${e.provider.reason})` : ''}</dd>` : ''}
${e.topErrors.length ? html`<dt>Top errors</dt><dd>${e.topErrors.map((t) => html`<div>${t.errorClass} × ${t.count}${t.sample ? html`: <span class="sample">${t.sample}</span>` : ''}</div>`)}</dd>` : ''}
${Object.entries(e.details).map(([k, v]) => html`<dt>${k.replace(/_/g, ' ')}</dt><dd>${v === null ? '–' : String(v)}</dd>`)}
</dl>`;
}

/**
 * Alert notifications that do not get through: the channel the alerts above were meant to reach
 * may have heard nothing of them (a revoked Slack URL, a webhook receiver that is down).
 */
function undeliveredNotice(undelivered: UndeliveredNotifications[], names: Map<string, string>) {
  if (undelivered.length === 0) return '';
  const where = (n: UndeliveredNotifications) =>
    n.channel === 'webhook'
      ? 'The alert webhook (TEGAMI_ALERT_WEBHOOK_URL)'
      : n.unitId
        ? `Unit ${names.get(n.unitId) ?? n.unitId}'s Slack channel`
        : 'The Slack channel (TEGAMI_SLACK_WEBHOOK_URL)';
  return html`<div class="error" role="alert" id="alerts-undelivered"><p><strong>Alert notifications are not getting through.</strong> Check the URL, then send a test with <code>tegami alerts test</code>.</p>
<ul>${undelivered.map(
    (n) =>
      html`<li>${where(n)}: ${n.retrying ? `${count(n.retrying, 'notification')} failing, still retried` : ''}${n.retrying && n.givenUp ? '; ' : ''}${n.givenUp ? `${count(n.givenUp, 'notification')} given up in the last 24 h` : ''}${n.lastError ? html`. Last error: <span class="sample">${n.lastError}</span>` : ''}</li>`,
  )}</ul></div>`;
}

function alertRows(alerts: Alert[], names: Map<string, string>) {
  // On a phone each row is a card (console.css): the alert first, the other cells named by their column.
  return html`<table class="list alerts"><thead><tr><th>Started</th><th>Severity</th><th>Alert</th><th>Unit</th><th>Ended</th></tr></thead>
<tbody>${alerts.map(
    (
      a,
    ) => html`<tr><td data-label="Started">${time(a.startedAt)}</td><td data-label="Severity"><span class="badge s-${a.state === 'firing' ? 'failed' : 'done'}">${a.severity}</span></td>
<td class="alert"><strong>${a.summary}</strong><div class="sample">${consoleHint(a)}</div>
${a.state === 'firing' ? html`<p><a href="${consolePath(a, a.unitId ? (names.get(a.unitId) ?? null) : null)}" data-alert-link>Open the unsent mail</a></p>` : ''}
<details><summary>Evidence</summary>${evidence(a.evidence)}</details></td>
<td data-label="Unit" class="unit">${a.unitId ? (names.get(a.unitId) ?? a.unitId) : 'every unit'}${a.provider ? html` · ${a.provider}` : ''}</td>
<td data-label="Ended">${a.endedAt ? time(a.endedAt) : html`<span class="muted">firing</span>`}</td></tr>`,
  )}</tbody></table>`;
}

/** The built-in alerts: those firing now, and the history (the unit's only, for a unit user). */
export function registerAlertsPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/console/alerts', { config: { permission: 'read' } }, async (request, reply) => {
    const state = stateOf(request);
    const before = olderThanCursor((request.query as Fields).before, 'alt', 'alerts');
    const [firingFound, found, undelivered] = await Promise.all([
      // One more than listed: whether more are firing than the page lists.
      deps.alerts.list(state.scope, { state: 'firing', limit: FIRING_SHOWN + 1 }),
      // One more than a page: whether an older page exists.
      deps.alerts.list(state.scope, {
        state: 'resolved',
        limit: HISTORY_PAGE_SIZE + 1,
        ...(before ? { beforeId: before } : {}),
      }),
      deps.alerts.undeliveredNotifications(state.scope),
    ]);
    const firing = firingFound.slice(0, FIRING_SHOWN);
    const moreFiring = firingFound.length > FIRING_SHOWN;
    const history = found.slice(0, HISTORY_PAGE_SIZE);
    const names = await deps.operations.unitNames([
      ...[...firing, ...history].flatMap((a) => (a.unitId ? [a.unitId] : [])),
      ...undelivered.flatMap((n) => (n.unitId ? [n.unitId] : [])),
    ]);
    const last = found.length > HISTORY_PAGE_SIZE ? history[history.length - 1] : undefined;
    const body = html`${undeliveredNotice(undelivered, names)}<div id="alerts-firing" data-poll="10000">
<h2>Firing (${moreFiring ? `more than ${FIRING_SHOWN}` : firing.length})</h2>
${moreFiring ? html`<p class="muted">The ${FIRING_SHOWN} that fired last are listed; <code>GET /v1/alerts?state=firing</code> pages through every one (<code>tegami alerts --state firing --limit 500</code> lists up to 500).</p>` : ''}
${firing.length ? alertRows(firing, names) : html`<p class="muted">No alert is firing.</p>`}
</div>
<h2>History</h2>
${history.length ? alertRows(history, names) : html`<p class="muted" role="status">${before ? 'No older alert.' : firing.length ? 'No alert has resolved yet.' : 'No alert has fired yet.'}</p>`}
${last ? html`<p><a href="/console/alerts${qs({ before: last.id })}" rel="next">Older →</a></p>` : ''}`;
    return reply.type('text/html').send(page('Alerts', state, body, '/console/alerts').text);
  });
}
