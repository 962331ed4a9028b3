import type { FastifyInstance, FastifyRequest } from 'fastify';
import { consolePath } from '../../domain/alerts/notifications.ts';
import { count, oneOrMany } from '../../domain/count-words.ts';
import { type DeliveryStatus, statusOfEvent } from '../../domain/recipient-state.ts';
import type { ConsoleDeps } from '../deps.ts';
import { age, html, jsonText, qs, time } from '../html.ts';
import { page } from '../layout.ts';
import { type Fields, stateOf } from '../session.ts';
import { PROBED, probeNotice, providerHold } from './provider-hold.ts';

const HOUR_MS = 3600_000;

/** Firing alerts listed on the overview; past it the tile says "more than", as the list ends. */
const FIRING_SHOWN = 20;
/**
 * The delivery outcomes counted, named as the recipients' delivery statuses are on every page
 * (`bounced`, not SendGrid's event `bounce`; a block apart).
 */
const DELIVERY_OUTCOMES: readonly DeliveryStatus[] = [
  'delivered',
  'bounced',
  'blocked',
  'deferred',
  'dropped',
];

/**
 * What the overview shows, as numbers: the page renders it, its chart's series included (which
 * overview.js draws), and /console/overview.json answers it whole.
 */
async function overviewData(deps: ConsoleDeps, request: FastifyRequest) {
  const state = stateOf(request);
  const now = (deps.clock ?? Date.now)();
  const unitId = state.scope.kind === 'unit' ? state.scope.unitId : undefined;
  const [summary, health, traffic, firingFound] = await Promise.all([
    deps.operations.unsentSummary(state.scope, {}),
    deps.providers.health.list(),
    deps.traffic.traffic(now - HOUR_MS, unitId),
    // One more than shown: whether more are firing (every unit's delay alert in an outage).
    deps.alerts.list(state.scope, { state: 'firing', limit: FIRING_SHOWN + 1 }),
  ]);
  const firing = firingFound.slice(0, FIRING_SHOWN);
  const names = await deps.operations.unitNames(
    firing.flatMap((a) => (a.unitId ? [a.unitId] : [])),
  );
  // One row per minute of the last hour, so the charts have no holes.
  const first = Math.floor((now - HOUR_MS) / 60_000) + 1;
  const minutes = Array.from({ length: 60 }, (_, i) => first + i);
  const series = (rows: { minute: number; count: number }[]) => {
    const by = new Map(rows.map((r) => [r.minute, r.count]));
    return minutes.map((m) => by.get(m) ?? 0);
  };
  const sum = (outcome: (o: string) => boolean) =>
    series(
      minutes.map((m) => ({
        minute: m,
        count: traffic.attempts
          .filter((a) => a.minute === m && outcome(a.outcome))
          .reduce((n, a) => n + a.count, 0),
      })),
    );
  return {
    summary,
    health,
    moreFiring: firingFound.length > FIRING_SHOWN,
    firing: firing.map((a) => ({
      id: a.id,
      severity: a.severity,
      summary: a.summary,
      startedAt: a.startedAt,
      unsentPath: consolePath(a, a.unitId ? (names.get(a.unitId) ?? null) : null),
    })),
    providers: traffic.providers,
    events: Object.fromEntries(
      DELIVERY_OUTCOMES.map((status) => [
        status,
        traffic.events
          .filter((x) => statusOfEvent(x.event, x.blocked ? 'blocked' : null) === status)
          .reduce((n, x) => n + x.count, 0),
      ]),
    ),
    chart: {
      minutes: minutes.map((m) => m * 60),
      accepted: series(traffic.accepted),
      sent: sum((o) => o === 'accepted'),
      failed: sum((o) => o !== 'accepted'),
    },
  };
}

/**
 * How long the oldest mail not yet taken by the provider has been due, whatever holds it: in an
 * outage that is held and retried mail, not only mail never tried (as the delivery_delay alert
 * counts it). Links to that message.
 */
function oldestTile(
  oldest: { id: string; reason: string; ageMs: number } | null,
): ReturnType<typeof html> {
  if (!oldest)
    return html`<div class="tile" id="oldest-pending"><span class="n">–</span> oldest not yet sent</div>`;
  return html`<a class="tile" id="oldest-pending" href="/console/messages/${oldest.id}${qs({ back: '/console' })}" title="The oldest message not yet taken by the provider (waiting, held or retrying), due ${age(oldest.ageMs)} ago"><span class="n" data-tile="oldest">${age(oldest.ageMs)}</span> oldest not yet sent <span class="muted">(${oldest.reason.replace('_', ' ')})</span></a>`;
}

/** The overview: traffic of the last hour, what is unsent and why, and the provider's state. */
export function registerOverview(app: FastifyInstance, deps: ConsoleDeps): void {
  // The chart no longer asks for it (its series come with the page, refreshed with the page's
  // other live parts): kept for what reads the overview's numbers as JSON.
  app.get('/console/overview.json', { config: { permission: 'read' } }, async (request) =>
    overviewData(deps, request),
  );

  app.get('/console', { config: { permission: 'read' } }, async (request, reply) => {
    const state = stateOf(request);
    const [data, hold, probed] = await Promise.all([
      overviewData(deps, request),
      providerHold(deps, (deps.clock ?? Date.now)(), { state, url: request.url }),
      probeNotice(deps, (request.query as Fields)[PROBED]),
    ]);
    const { summary } = data;
    const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    // Why mail is held, first: the page on-call opens first in an outage (refreshed in place).
    // A probe just asked for is said outside the part refreshed in place: read out once.
    const body = html`${probed}<div id="overview-hold" data-poll="10000">${hold}</div>
<div class="tiles" id="overview-tiles" data-poll="10000">
<div class="tile"><span class="n" data-tile="accepted">${total(data.chart.accepted).toLocaleString('en')}</span> accepted (1 h)</div>
<div class="tile"><span class="n" data-tile="sent">${total(data.chart.sent).toLocaleString('en')}</span> sent (1 h)</div>
<div class="tile"><span class="n" data-tile="failed">${total(data.chart.failed).toLocaleString('en')}</span> failed attempts (1 h)</div>
<a class="tile" href="/console/alerts"><span class="n" data-tile="alerts">${data.moreFiring ? `more than ${FIRING_SHOWN}` : data.firing.length}</span> ${oneOrMany(data.moreFiring ? FIRING_SHOWN + 1 : data.firing.length, 'alert', 'alerts')} firing</a>
<a class="tile" href="/console/unsent"><span class="n" data-total>${summary.total.toLocaleString('en')}</span> unsent</a>
${oldestTile(summary.oldestPending)}
</div>
<h2>Per minute, last hour</h2>
<noscript><p class="muted">The chart needs JavaScript; the numbers above do not.</p></noscript>
<div class="chart" id="traffic-chart" data-chart="traffic-chart-data"></div>
<script type="application/json" id="traffic-chart-data" data-poll="10000">${jsonText(data.chart)}</script>
<div class="grid" id="overview-tables" data-poll="10000">
<section><h2>Alerts firing</h2>${
      data.firing.length
        ? html`<ul>${data.firing.map((a) => html`<li><a href="/console/alerts">${a.summary}</a> <span class="muted">${a.severity}, since ${time(a.startedAt)}</span> · <a href="${a.unsentPath}" data-alert-link>Open the unsent mail</a></li>`)}</ul>${data.moreFiring ? html`<p><a href="/console/alerts">More are firing: every one on the Alerts page →</a></p>` : ''}`
        : html`<p class="muted">None.</p>`
    }</section>
<section><h2>Unsent by reason</h2><table class="list compact"><tbody>${Object.entries(
      summary.byReason,
    ).map(
      ([reason, n]) =>
        html`<tr><td><a href="/console/unsent${qs({ q: `reason:${reason}` })}">${reason.replace('_', ' ')}</a></td><td class="num">${n.toLocaleString('en')}</td></tr>`,
    )}</tbody></table></section>
<section><h2>Delivery outcomes (1 h)</h2><table class="list compact"><tbody>${Object.entries(
      data.events,
    ).map(
      ([event, n]) =>
        html`<tr><td>${event}</td><td class="num">${n.toLocaleString('en')}</td></tr>`,
    )}</tbody></table></section>
<section><h2>Providers</h2><table class="list compact"><thead><tr><th>Provider</th><th>State</th><th>Error rate (1 h)</th></tr></thead><tbody>${[
      ...new Set([
        deps.providers.configured,
        ...data.health.map((h) => h.provider),
        ...data.providers.map((p) => p.provider),
      ]),
    ].map((name) => {
      const states = data.health.filter((h) => h.provider === name).map((h) => h.snapshot.state);
      const p = data.providers.find((x) => x.provider === name);
      const rate =
        p && p.attempts > 0
          ? `${((100 * p.failed) / p.attempts).toFixed(1)} % of ${count(p.attempts, 'attempt')}`
          : '–';
      // A provider used in the last hour but no longer configured: no worker reports it now.
      const state = states.length
        ? [...new Set(states)].join(', ')
        : html`<span class="muted">${name === deps.providers.configured ? 'no report' : 'not configured now'}</span>`;
      return html`<tr><td>${name}</td><td>${state}</td><td>${rate}</td></tr>`;
    })}</tbody></table></section>
<section><h2>Unsent by unit</h2><table class="list compact"><tbody>${summary.byUnit.map(
      (u) =>
        html`<tr><td><a href="/console/unsent${qs({ q: `unit:${u.unit}` })}">${u.unit}</a></td><td class="num">${u.count.toLocaleString('en')}</td></tr>`,
    )}</tbody></table></section>
</div>`;
    return reply.type('text/html').send(page('Overview', state, body, '/console').text);
  });
}
