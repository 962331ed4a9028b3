import type { FastifyInstance } from 'fastify';
import type { ConsoleDeps } from '../deps.ts';
import { html, qs, time } from '../html.ts';
import { page } from '../layout.ts';
import { stateOf } from '../session.ts';

/** The overview: what is unsent and why, and how the provider is doing; refreshed in place. */
export function registerOverview(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/console', { config: { permission: 'read' } }, async (request, reply) => {
    const state = stateOf(request);
    const [summary, health] = await Promise.all([
      deps.operations.unsentSummary(state.scope, {}),
      deps.providers.health.list(),
    ]);
    const body = html`<div id="overview" data-poll="5000">
<div class="tiles">
<a class="tile" href="/console/unsent"><span class="n" data-total>${summary.total.toLocaleString('en')}</span> unsent</a>
${Object.entries(summary.byReason).map(([reason, n]) => html`<a class="tile" href="/console/unsent${qs({ q: `reason:${reason}` })}"><span class="n">${n.toLocaleString('en')}</span> ${reason.replace('_', ' ')}</a>`)}
<div class="tile"><span class="n">${summary.oldestWaiting ? `${Math.round(summary.oldestWaiting.ageMs / 1000)} s` : '–'}</span> oldest waiting</div>
</div>
<h2>Provider (${deps.providers.configured})</h2>
<table class="list"><thead><tr><th>Provider</th><th>Worker</th><th>State</th><th>Reported</th></tr></thead>
<tbody>${health.map((h) => html`<tr><td>${h.provider}</td><td>${h.reporter}</td><td>${JSON.stringify(h.snapshot)}</td><td>${time(h.updatedAt)}</td></tr>`)}</tbody></table>
${health.length === 0 ? html`<p class="muted">No worker has reported yet.</p>` : ''}
<h2>Unsent by unit</h2>
<table class="list compact"><tbody>${summary.byUnit.map((u) => html`<tr><td><a href="/console/unsent${qs({ q: `unit:${u.unit}` })}">${u.unit}</a></td><td class="num">${u.count}</td></tr>`)}</tbody></table>
</div>`;
    return reply.type('text/html').send(page('Overview', state, body, '/console').text);
  });
}
