import type { FastifyInstance } from 'fastify';
import { auditDetailsText, auditTargetName, auditUnitText } from '../../domain/audit-words.ts';
import { AUDIT_ACTIONS, type AuditAction } from '../../domain/operations/audit-event.ts';
import { parseIsoTime } from '../../domain/operations/message-query.ts';
import type { ConsoleDeps } from '../deps.ts';
import { html, qs, time } from '../html.ts';
import { page } from '../layout.ts';
import { olderThanCursor } from '../page-link.ts';
import { ConsoleError, type Fields, stateOf } from '../session.ts';
import { shownFilter } from '../shown-url.ts';
import { csvCell } from './messages.ts';
import { actorWords, targetWords } from './words.ts';

/** Audit events per page of the audit log. */
const AUDIT_PAGE_SIZE = 100;

/** The audit log: filtered, a page at a time, or all of it as CSV. */
export function registerAuditPage(app: FastifyInstance, deps: ConsoleDeps): void {
  app.get('/console/audit', { config: { permission: 'read' } }, async (request, reply) => {
    const state = stateOf(request);
    const { action, actor, after, before, format, older } = request.query as Fields & {
      format?: string;
      older?: string;
    };
    if (action && !(AUDIT_ACTIONS as readonly string[]).includes(action))
      throw new ConsoleError(400, 'action: not an action');
    const olderThan = olderThanCursor(older, 'aud', 'the audit log');
    const afterMs = after ? parseIsoTime(after) : undefined;
    const beforeMs = before ? parseIsoTime(before) : undefined;
    // A date not understood is said above the form, which keeps what was typed.
    const badTime = Number.isNaN(afterMs) || Number.isNaN(beforeMs);
    if (badTime && format === 'csv')
      throw new ConsoleError(400, 'after, before: a date like 2026-12-01 (UTC)');
    const events = badTime
      ? []
      : await deps.operations.listAudit(state.scope, {
          // One more than a page: whether an older page exists.
          limit: format === 'csv' ? 10_000 : AUDIT_PAGE_SIZE + 1,
          ...(olderThan && format !== 'csv' ? { beforeId: olderThan } : {}),
          ...(action ? { action: action as AuditAction } : {}),
          ...(actor ? { actor } : {}),
          ...(afterMs !== undefined ? { after: afterMs } : {}),
          ...(beforeMs !== undefined ? { before: beforeMs } : {}),
        });
    if (format === 'csv') {
      const names = await deps.operations.auditNames(events);
      const rows = [
        [
          'at',
          'actor_type',
          'actor_id',
          'actor_name',
          'action',
          'unit',
          'target',
          'target_name',
          'filter',
          'counts',
        ],
        ...events.map((e) => [
          new Date(e.at).toISOString(),
          e.actor.type,
          e.actor.id,
          e.actor.name,
          e.action,
          e.unitId === null ? '' : (names.units.get(e.unitId) ?? e.unitId),
          e.target,
          auditTargetName(e, names),
          e.filter ? JSON.stringify(shownFilter(e.filter, state.user)) : '',
          e.counts ? JSON.stringify(e.counts) : '',
        ]),
      ];
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="tegami-audit.csv"')
        .send(`\ufeff${rows.map((r) => r.map(csvCell).join(',')).join('\r\n')}\r\n`);
    }
    // Paged by id, newest first (keyset: "Older events →" asks for the events before the last).
    const shown = events.slice(0, AUDIT_PAGE_SIZE);
    const last = events.length > AUDIT_PAGE_SIZE ? shown[shown.length - 1] : undefined;
    const names = await deps.operations.auditNames(shown);
    const body = html`${badTime ? html`<p class="error" role="alert" id="audit-time-error">After, before: a date or time in UTC, like 2026-12-01 or 2026-12-01T15:00.</p>` : ''}<form method="get" class="search inline-form">
<label>Action <select name="action"><option value="">any</option>${AUDIT_ACTIONS.map((a) => html`<option ${a === action ? 'selected' : ''}>${a}</option>`)}</select></label>
<label>Who <input name="actor" value="${actor ?? ''}" placeholder="name, e-mail or id"></label>
<label>After (UTC) <input name="after" value="${after ?? ''}" placeholder="2026-12-01"${Number.isNaN(afterMs) ? html` aria-invalid="true" aria-describedby="audit-time-error"` : ''}></label>
<label>Before (UTC) <input name="before" value="${before ?? ''}" placeholder="2026-12-01T15:00"${Number.isNaN(beforeMs) ? html` aria-invalid="true" aria-describedby="audit-time-error"` : ''}></label>
<button type="submit">Filter</button> <a class="button secondary" href="/console/audit${qs({ action, actor, after, before, format: 'csv' })}">Export CSV</a></form>
<table class="list"><thead><tr><th>At</th><th>Who</th><th>Action</th><th>Unit</th><th>Target</th><th>Details</th><th>Counts</th></tr></thead>
<tbody>${shown.map((e) => {
      const details = auditDetailsText(e);
      return html`<tr><td>${time(e.at)}</td><td>${actorWords(e.actor)}</td><td>${e.action}</td><td>${auditUnitText(e, names) ?? ''}</td><td>${targetWords(e, names)}</td>
<td class="wrap">${details ?? html`<code>${e.filter ? JSON.stringify(shownFilter(e.filter, state.user)) : ''}</code>`}</td><td class="wrap">${e.counts ? JSON.stringify(e.counts) : ''}</td></tr>`;
    })}</tbody></table>
${shown.length === 0 && !badTime ? html`<p class="muted" role="status">${olderThan ? 'No older event matches.' : 'No event matches.'}</p>` : ''}
${last ? html`<p><a href="/console/audit${qs({ action, actor, after, before, older: last.id })}" rel="next">Older events →</a></p>` : ''}`;
    // A date not understood is the request's fault: 400, with the page that says so.
    return reply
      .code(badTime ? 400 : 200)
      .type('text/html')
      .send(page('Audit log', state, body, '/console/audit').text);
  });
}
