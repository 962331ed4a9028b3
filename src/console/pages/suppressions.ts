import type { FastifyInstance } from 'fastify';
import {
  addSuppressionByHand,
  removeSuppressionByHand,
} from '../../domain/suppressions-by-hand.ts';
import { isValidEmail } from '../../domain/validate-message.ts';
import type { ConsoleDeps } from '../deps.ts';
import { html, qs, time } from '../html.ts';
import { csrf, page } from '../layout.ts';
import {
  ConsoleError,
  type ConsoleRequestState,
  type Fields,
  stateOf,
  unitIdOf,
} from '../session.ts';
import { suppressionReasonText, suppressionReasonWords, suppressionSourceText } from './words.ts';

/** The suppression list: everyone reads it, operators add and remove addresses. */
export function registerSuppressionPages(app: FastifyInstance, deps: ConsoleDeps): void {
  const clock = deps.clock ?? Date.now;

  // The reasons one adds by hand, in the words the list shows them in.
  const SUPPRESSION_REASONS: [string, string][] = [
    'manual',
    'unsubscribe',
    'bounce',
    'spamreport',
  ].map((reason) => [reason, suppressionReasonText(reason)]);

  /**
   * The suppressions page. `refused`: an address the server would not add (the browser's own
   * check of an e-mail field is looser), said above the form, which keeps what was typed.
   */
  async function suppressionsPage(
    state: ConsoleRequestState,
    email: string | undefined,
    refused: { email: string; reason: string; error: string } | null,
  ) {
    const unitId = unitIdOf(state);
    const { entries } = await deps.suppressions.list({
      limit: 100,
      ...(email ? { email } : {}),
      ...(unitId ? { unitId } : {}),
    });
    const operator = state.user.role !== 'viewer';
    // Every unit's entries (an admin of every unit): each row says whose it is, and its Remove
    // removes that entry only.
    const everyUnit = unitId === undefined;
    const names = everyUnit
      ? await deps.operations.unitNames(
          new Set(entries.flatMap((s) => (s.unitId ? [s.unitId] : []))),
        )
      : new Map<string, string>();
    const unitCell = (id: string | null) =>
      id === null ? html`<span class="muted">no unit</span>` : (names.get(id) ?? id);
    const body = html`<form method="get" class="search"><input type="search" name="email" value="${email ?? ''}" placeholder="guest@example.jp" aria-label="Address"><button type="submit">Find</button></form>
${
  operator
    ? html`<form method="post" action="/console/suppressions" class="card inline-form">${csrf(state)}
${refused ? html`<p class="error" role="alert" id="suppression-error">${refused.error}</p>` : ''}
<label>Address <input type="email" name="email" required value="${refused?.email ?? ''}"${refused ? html` aria-invalid="true" aria-describedby="suppression-error"` : ''}></label>
<label>Reason <select name="reason">${SUPPRESSION_REASONS.map(([value, label]) => html`<option value="${value}"${refused?.reason === value ? ' selected' : ''}>${label}</option>`)}</select></label>
<button type="submit">Add</button></form>`
    : ''
}
<table class="list"><thead><tr><th>Address</th>${everyUnit ? html`<th>Unit</th>` : ''}<th>Reason</th><th>Source</th><th>Since</th><th><span class="visually-hidden">Remove</span></th></tr></thead>
<tbody>${entries.map(
      (s) =>
        html`<tr><td class="wrap">${s.email}</td>${everyUnit ? html`<td>${unitCell(s.unitId)}</td>` : ''}<td>${suppressionReasonWords(s.reason)}</td><td>${suppressionSourceText(s.source)}${s.messageId ? html` · <a href="/console/messages/${encodeURIComponent(s.messageId)}">its message</a>` : ''}</td><td>${time(s.createdAt)}</td><td>${
          operator
            ? html`<form method="post" action="/console/suppressions/remove" class="inline">${csrf(state)}<input type="hidden" name="email" value="${s.email}">${
                everyUnit ? html`<input type="hidden" name="unit" value="${s.unitId ?? ''}">` : ''
              }
<input name="why" placeholder="why" required aria-label="Why remove"><button type="submit">Remove</button></form>`
            : ''
        }</td></tr>`,
    )}</tbody></table>
${
  entries.length === 0
    ? html`<p class="muted" role="status" id="not-suppressed">${
        email
          ? unitId
            ? html`<strong>${email}</strong> is not on this unit's suppression list. Another unit's entry would hold mail to it back too; an admin of every unit sees those.`
            : html`<strong>${email}</strong> is not on the suppression list: no suppression holds mail to it back.`
          : 'The suppression list is empty.'
      }</p>`
    : ''
}`;
    return page('Suppressions', state, body, '/console/suppressions');
  }

  app.get('/console/suppressions', { config: { permission: 'read' } }, async (request, reply) => {
    const { email } = request.query as { email?: string };
    const shown = await suppressionsPage(stateOf(request), email, null);
    return reply.type('text/html').send(shown.text);
  });

  app.post(
    '/console/suppressions',
    { config: { permission: 'operate' } },
    async (request, reply) => {
      const state = stateOf(request);
      const body = request.body as Fields;
      const email = (body.email ?? '').trim();
      const reason = body.reason ?? 'manual';
      if (!SUPPRESSION_REASONS.some(([value]) => value === reason))
        throw new ConsoleError(400, 'reason: not a reason');
      if (!isValidEmail(email)) {
        // The page again, with what was typed: the browser let it through, the server does not.
        const shown = await suppressionsPage(state, undefined, {
          email: email.slice(0, 320),
          reason,
          error: `${email === '' ? 'An address is needed' : `“${email.slice(0, 320)}” is not an address mail can be sent to`}: an address in ASCII with a domain that has a dot, like guest@example.jp, as POST /v1/suppressions takes it. Nothing was added.`,
        });
        return reply.code(400).type('text/html').send(shown.text);
      }
      const unitId =
        unitIdOf(state) ??
        state.user.unitIds?.[0] ??
        (await deps.operations.findUnit('default'))?.id ??
        '';
      await addSuppressionByHand(deps.suppressions, state.actor, {
        email,
        reason: reason as never,
        source: 'api',
        createdAt: clock(),
        unitId,
      });
      return reply.redirect(`/console/suppressions${qs({ email })}`, 303);
    },
  );

  app.post(
    '/console/suppressions/remove',
    { config: { permission: 'operate' } },
    async (request, reply) => {
      const state = stateOf(request);
      const body = request.body as Fields;
      const email = (body.email ?? '').trim();
      if (!(body.why ?? '').trim())
        throw new ConsoleError(400, 'why: say why the address may be sent to again');
      // A user of one unit removes that unit's entry only. An admin of every unit removes the
      // row's entry (`unit`: its unit id, '' for an entry of no unit), or without `unit` every
      // entry of the address.
      const scoped = unitIdOf(state);
      const unitId = scoped ?? (body.unit === undefined ? undefined : body.unit || null);
      const removed = await removeSuppressionByHand(
        deps.suppressions,
        state.actor,
        { email, unitId, why: (body.why ?? '').slice(0, 500) },
        clock(),
      );
      if (removed.length === 0)
        throw new ConsoleError(
          404,
          `${email} is not on the suppression list (any more): nothing was removed.`,
        );
      return reply.redirect('/console/suppressions', 303);
    },
  );
}
