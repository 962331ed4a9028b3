import type { FastifyInstance, FastifyRequest } from 'fastify';
import { maskUrl, UNIT_SETTING_LIMITS } from '../../domain/alerts/service.ts';
import {
  apiKeyNameProblem,
  createApiKey,
  keyAuditFields,
  shownKeyPrefix,
} from '../../domain/api-keys.ts';
import { auditDetailsText, auditTargetName, auditUnitText } from '../../domain/audit-words.ts';
import {
  CONSOLE_ROLES,
  type ConsoleRole,
  type ConsoleUser,
  lockOf,
  normalizeEmail,
} from '../../domain/console-users.ts';
import { count, oneOrMany } from '../../domain/count-words.ts';
import { MESSAGE_ID, MESSAGE_ID_IN_WORDS } from '../../domain/ids.ts';
import { AUDIT_ACTIONS, type AuditAction } from '../../domain/operations/audit.ts';
import { OperationsError } from '../../domain/operations/errors.ts';
import { parseIsoTime } from '../../domain/operations/message-query.ts';
import {
  WEBHOOK_DELIVERY_STATUSES,
  type WebhookDelivery,
  type WebhookDeliveryStatus,
  type WebhookEndpoint,
} from '../../domain/ports/status-webhook-store.ts';
import { isPriority, PRIORITIES } from '../../domain/priority.ts';
import {
  DEFAULT_PREVIOUS_SECRET_SECONDS,
  generateWebhookSecret,
  MAX_PREVIOUS_SECRET_SECONDS,
  WEBHOOK_EVENT_TYPES,
} from '../../domain/status-webhooks.ts';
import { isValidEmail } from '../../domain/validate-message.ts';
import type { ConsoleDeps } from '../deps.ts';
import { html, qs, time } from '../html.ts';
import { csrf, page } from '../layout.ts';
import { invalidIf, type Refusal, refusal, refusalNotice } from '../refusal.ts';
import { ConsoleError, type ConsoleRequestState, stateOf } from '../session.ts';
import { shownFilter } from '../shown-url.ts';
import { csvCell } from './messages.ts';
import {
  actorWords,
  eitherOf,
  fieldProblemText,
  suppressionReasonText,
  suppressionReasonWords,
  suppressionSourceText,
  targetWords,
  webhookProgress,
  wholeNumberProblem,
} from './words.ts';

type Body = Record<string, string | undefined>;

// The forms' labels, by the names the domain gives their fields (as the API does): a refusal
// names a field as the form shows it.
const KEY_LABELS = { name: 'Name', unit: 'Unit', priority: 'Priority of its mail' } as const;
const UNIT_LABELS = { name: 'Name' } as const;
const UNIT_ALERT_LABELS = {
  slack_webhook_url: 'Slack channel',
  'alerts.delay_s': 'Delay alert after (s)',
  'alerts.dead_letters': 'Dead letters over',
} as const;
const USER_LABELS = {
  email: 'E-mail',
  password: 'Password',
  role: 'Role',
  units: 'Units',
} as const;
const ENDPOINT_LABELS = { url: 'URL', events: 'Events', unit: 'Unit' } as const;

/** Audit events per page of the audit log. */
const AUDIT_PAGE_SIZE = 100;

/** Deleted endpoints listed (with a link to their logs) under the active ones. */
const DELETED_ENDPOINTS_SHOWN = 20;

/** A status webhook endpoint that is not there, or not one of this user's units'. */
const NO_ENDPOINT = 'No such status webhook endpoint among those you manage.';

/** An endpoint to act on that is not there, or deleted: only an active one is changed. */
const NO_ACTIVE_ENDPOINT =
  'No such status webhook endpoint, or it was deleted: a deleted endpoint is not changed any more. Its log is under Deleted endpoints on the Status webhooks page.';

/** An endpoint's newest status webhooks on the endpoints' page, and those per page of its log. */
const WEBHOOK_LOG_SHOWN = 20;
const WEBHOOK_LOG_PAGE_SIZE = 100;

/** Pending status webhooks counted on the page that asks before deleting their endpoint. */
const PENDING_COUNTED = 1000;

function isDeliveryStatus(value: string): value is WebhookDeliveryStatus {
  return (WEBHOOK_DELIVERY_STATUSES as readonly string[]).includes(value);
}

/**
 * Status webhooks: when, which event about which message, and what came of posting it (posts so
 * far, as the message's timeline counts them, and the receiver's last answer). One posted again
 * by hand says when it was queued again, and its answer from before, until the next post.
 */
function deliveryTable(entries: WebhookDelivery[]) {
  return html`<table class="list compact"><thead><tr><th>Created</th><th>Event</th><th>Message</th><th>Status</th><th>Posts</th><th>Last answer</th></tr></thead>
<tbody>${entries.map((d) => {
    const { state, answer } = webhookProgress(d);
    return html`<tr><td>${time(d.createdAt)}</td><td>${d.eventType}</td><td>${d.messageId ? html`<a href="/console/messages/${d.messageId}"><code>${d.messageId}</code></a>` : ''}</td><td>${state}</td><td>${d.attempts}${d.requeuedAt === null ? '' : ' since then'}</td><td class="wrap">${answer}</td></tr>`;
  })}</tbody></table>`;
}

function unitIdOf(state: ConsoleRequestState): string | undefined {
  return state.scope.kind === 'unit' ? state.scope.unitId : undefined;
}

/** Active, disabled, or locked (for everyone, or for the addresses that failed) until a time. */
function userState(user: ConsoleUser, now: number) {
  if (user.disabledAt !== null) return 'disabled';
  const lock = lockOf(user, now);
  if (!lock) return 'active';
  return lock.scope === 'account'
    ? html`locked until ${time(lock.until)}`
    : html`locked until ${time(lock.until)} for some addresses`;
}

/** The windows the console offers for a rotated-out webhook secret, in seconds. */
const KEEP_PREVIOUS_CHOICES: [number, string][] = [
  [3600, '1 hour'],
  [DEFAULT_PREVIOUS_SECRET_SECONDS, '24 hours'],
  [MAX_PREVIOUS_SECRET_SECONDS, '7 days'],
  [0, 'no longer (leaked)'],
];

/** Suppressions, API keys, units, users, status webhook endpoints and the audit log. */
export function registerAdminPages(app: FastifyInstance, deps: ConsoleDeps): void {
  const clock = deps.clock ?? Date.now;

  // --- suppressions (operators change them) -------------------------------------------------
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
      const body = request.body as Body;
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
      const { created, suppression } = await deps.suppressions.add({
        email,
        reason: reason as never,
        source: 'api',
        createdAt: clock(),
        unitId,
      });
      if (created) {
        await deps.operations.record(state.actor, 'suppression.add', {
          unitId: suppression.unitId,
          target: email.toLowerCase(),
        });
      }
      return reply.redirect(`/console/suppressions${qs({ email })}`, 303);
    },
  );

  app.post(
    '/console/suppressions/remove',
    { config: { permission: 'operate' } },
    async (request, reply) => {
      const state = stateOf(request);
      const body = request.body as Body;
      const email = (body.email ?? '').trim();
      if (!(body.why ?? '').trim())
        throw new ConsoleError(400, 'why: say why the address may be sent to again');
      // A user of one unit removes that unit's entry only. An admin of every unit removes the
      // row's entry (`unit`: its unit id, '' for an entry of no unit), or without `unit` every
      // entry of the address.
      const scoped = unitIdOf(state);
      const unitId = scoped ?? (body.unit === undefined ? undefined : body.unit || null);
      const removed = await deps.suppressions.remove(email, unitId);
      if (removed.length === 0)
        throw new ConsoleError(
          404,
          `${email} is not on the suppression list (any more): nothing was removed.`,
        );
      for (const entry of removed) {
        await deps.operations.record(state.actor, 'suppression.remove', {
          unitId: entry.unitId,
          target: email.toLowerCase(),
          filter: { why: (body.why ?? '').slice(0, 500) },
        });
      }
      return reply.redirect('/console/suppressions', 303);
    },
  );

  // --- API keys (admins) --------------------------------------------------------------------
  /** What the key form held when it was refused, shown again as typed. */
  interface KeyForm {
    name: string;
    unit: string;
    admin: boolean;
    priority: string;
  }

  async function keysPage(
    state: ConsoleRequestState,
    created: { key: string; name: string } | null,
    refused: { form: KeyForm; why: Refusal } | null = null,
  ) {
    const [keys, units] = await Promise.all([
      deps.keys.list(),
      deps.operations.listUnits(state.scope),
    ]);
    const names = new Map(units.map((u) => [u.id, u.name]));
    const typed = refused?.form;
    const why = refused?.why ?? null;
    return page(
      'API keys',
      state,
      html`${created ? html`<div class="card notice" role="status"><p>The key <strong>${created.name}</strong>, shown only this once; keep it now:</p><pre data-new-key>${created.key}</pre></div>` : ''}
<form method="post" action="/console/keys" class="card inline-form">${csrf(state)}
${refusalNotice(why)}
<label>Name <input name="name" required maxlength="200" value="${typed?.name ?? ''}"${invalidIf(why, 'name')}></label>
<label>Unit <select name="unit"${invalidIf(why, 'unit')}>${units.map((u) => html`<option value="${u.id}"${typed?.unit === u.id ? ' selected' : ''}>${u.name}</option>`)}</select></label>
<label><input type="checkbox" name="admin" value="1"${typed?.admin ? ' checked' : ''}> admin (every unit)</label>
<label>Priority of its mail <select name="priority"${invalidIf(why, 'priority')}><option value="">the unit's default</option>${PRIORITIES.map((p) => html`<option value="${p}"${typed?.priority === p ? ' selected' : ''}>${p}</option>`)}</select></label>
<button type="submit">Create key</button></form>
<table class="list"><thead><tr><th>Name</th><th>Prefix</th><th>Unit</th><th>Created</th><th>State</th><th><span class="visually-hidden">Revoke</span></th></tr></thead>
<tbody>${keys.map(
        (
          k,
        ) => html`<tr><td class="wrap">${k.name}</td><td><code>${shownKeyPrefix(k.prefix)}…</code></td><td>${names.get(k.unitId) ?? k.unitId}${k.admin ? ' (admin)' : ''}${k.defaultPriority ? `, ${k.defaultPriority} priority` : ''}</td><td>${time(k.createdAt)}</td>
<td>${k.revokedAt ? html`revoked ${time(k.revokedAt)}` : 'active'}</td>
<td>${k.revokedAt ? '' : html`<form method="post" action="/console/keys/${k.id}/revoke" class="inline">${csrf(state)}<button type="submit" class="danger">Revoke</button></form>`}</td></tr>`,
      )}</tbody></table>`,
      '/console/keys',
    );
  }

  app.get(
    '/console/keys',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      return reply.type('text/html').send((await keysPage(stateOf(request), null)).text);
    },
  );

  app.post(
    '/console/keys',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const state = stateOf(request);
      const body = request.body as Body;
      const form: KeyForm = {
        name: body.name ?? '',
        unit: body.unit ?? '',
        admin: body.admin === '1',
        priority: body.priority ?? '',
      };
      // Refused: the page again, with the form as typed and what is wrong above it.
      const refuse = async (field: keyof KeyForm, problem: string) => {
        const why = refusal('key-error', problem, [field], 'No key was created.');
        const shown = await keysPage(state, null, {
          form: { ...form, name: form.name.slice(0, 1000) },
          why,
        });
        return reply.code(400).type('text/html').send(shown.text);
      };
      const name = form.name.trim();
      const problem = apiKeyNameProblem(name);
      if (problem) return refuse('name', fieldProblemText(KEY_LABELS, 'name', problem));
      const units = await deps.operations.listUnits(state.scope);
      const unit = units.find((u) => u.id === form.unit);
      if (!unit) return refuse('unit', 'That unit does not exist: choose one from the list.');
      const priority = form.priority || undefined;
      if (priority !== undefined && !isPriority(priority))
        return refuse(
          'priority',
          `“${KEY_LABELS.priority}” must be ${PRIORITIES.join(', ')} or the unit's default.`,
        );
      const { key, record } = await createApiKey(deps.keys, name, clock(), {
        unitId: unit.id,
        admin: form.admin,
        defaultPriority: priority ?? null,
      });
      // As `tegami keys create` records it: that a key can act on every unit is worth finding.
      await deps.operations.record(state.actor, 'key.create', keyAuditFields('key.create', record));
      return reply.type('text/html').send((await keysPage(state, { key, name })).text);
    },
  );

  app.post(
    '/console/keys/:id/revoke',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const state = stateOf(request);
      const { id } = request.params as { id: string };
      const key = await deps.keys.findById(id);
      if (!key || !(await deps.keys.revoke(id, clock())))
        throw new ConsoleError(404, 'No such active key.');
      await deps.operations.record(state.actor, 'key.revoke', keyAuditFields('key.revoke', key));
      return reply.redirect('/console/keys', 303);
    },
  );

  // --- units (admins) -----------------------------------------------------------------------
  /** What a unit's alert form held when it was refused; the Slack URL is never shown back. */
  interface UnitAlertsForm {
    unitId: string;
    slackTyped: boolean;
    removeSlack: boolean;
    delay: string;
    deadLetters: string;
    muted: boolean;
  }

  /**
   * Every unit with its settings, the settings of them all in one query. `refused`: the new
   * unit's name, or one unit's alert form, as typed, with what is wrong said in that form.
   */
  async function unitsPage(
    state: ConsoleRequestState,
    refused:
      | { kind: 'create'; name: string; why: Refusal }
      | { kind: 'alerts'; form: UnitAlertsForm; why: Refusal }
      | null,
  ) {
    const units = await deps.operations.listUnitsWithSettings(state.scope);
    const created = refused?.kind === 'create' ? refused : null;
    const rows = units.map(({ unit: u, settings: s }) => {
      const o = s.overrides;
      const alerts = refused?.kind === 'alerts' && refused.form.unitId === u.id ? refused : null;
      const why = alerts?.why ?? null;
      const typed = alerts?.form;
      const delay = typed ? typed.delay : o.delayMs === undefined ? '' : String(o.delayMs / 1000);
      const deadLetters = typed
        ? typed.deadLetters
        : o.deadLetters === undefined
          ? ''
          : String(o.deadLetters);
      const muted = typed ? typed.muted : o.muted === true;
      // Each unit's own Slack channel (the URL is a credential: shown masked, replaced, never
      // echoed, not even when refused) and its alert thresholds, through the same service as
      // PUT /v1/units/{id}. The form's action names the row, so the page answering it, a refusal
      // or the list again, opens at this unit.
      return html`<tr id="unit-${u.id}"><td><a href="/console/messages${qs({ q: `unit:${u.name}` })}">${u.name}</a></td><td><code>${u.id}</code></td><td>${time(u.createdAt)}</td>
<td><form method="post" action="/console/units/${u.id}/alerts#unit-${u.id}" class="inline-form">${csrf(state)}
${refusalNotice(why)}
<label>${UNIT_ALERT_LABELS.slack_webhook_url} <input name="slack_webhook_url" type="url" placeholder="${maskUrl(s.slackWebhookUrl) ?? 'the global channel'}"${invalidIf(why, 'slack_webhook_url')}></label>
<label><input type="checkbox" name="remove_slack" value="1"${typed?.removeSlack ? ' checked' : ''}> use the global channel</label>
<label>${UNIT_ALERT_LABELS['alerts.delay_s']} <input name="delay_s" type="number" min="1" value="${delay}" placeholder="global"${invalidIf(why, 'alerts.delay_s')}></label>
<label>${UNIT_ALERT_LABELS['alerts.dead_letters']} <input name="dead_letters" type="number" min="0" value="${deadLetters}" placeholder="global"${invalidIf(why, 'alerts.dead_letters')}></label>
<label><input type="checkbox" name="muted" value="1"${muted ? ' checked' : ''}> muted</label>
<button type="submit">Save</button></form></td></tr>`;
    });
    const why = created?.why ?? null;
    const body = html`<form method="post" action="/console/units" class="card inline-form">${csrf(state)}
${refusalNotice(why)}
<label>Name <input name="name" required pattern="[a-z0-9_-]{1,63}" value="${created?.name ?? ''}"${invalidIf(why, 'name')}></label><button type="submit">Create unit</button></form>
<table class="list"><thead><tr><th>Name</th><th>Id</th><th>Created</th><th>Alerts (Slack channel, thresholds)</th></tr></thead>
<tbody>${rows}</tbody></table>`;
    return page('Units', state, body, '/console/units');
  }

  app.get(
    '/console/units',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      return reply.type('text/html').send((await unitsPage(stateOf(request), null)).text);
    },
  );

  app.post(
    '/console/units',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const state = stateOf(request);
      const typed = (request.body as Body).name ?? '';
      const name = typed.trim();
      try {
        await deps.operations.createUnit(state.scope, state.actor, name);
      } catch (error) {
        if (!(error instanceof OperationsError) || !['invalid', 'exists'].includes(error.kind))
          throw error;
        // The page again, with the name as typed and what is wrong above it.
        const problems =
          error.kind === 'exists'
            ? [`A unit named “${name}” already exists: choose another name.`]
            : error.details.map((d) => fieldProblemText(UNIT_LABELS, d.field, d.message));
        const why = refusal('unit-error', problems, ['name'], 'No unit was created.');
        const shown = await unitsPage(state, { kind: 'create', name: typed.slice(0, 200), why });
        return reply
          .code(error.kind === 'exists' ? 409 : 400)
          .type('text/html')
          .send(shown.text);
      }
      return reply.redirect('/console/units', 303);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/console/units/:id/alerts',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const state = stateOf(request);
      const raw = request.body as Body;
      const url = String(raw.slack_webhook_url ?? '').trim();
      // A unit that is not there (or not this user's) is no row to show a refusal in: 404.
      const { unit, settings } = await deps.alerts.settings(state.scope, request.params.id);
      const form: UnitAlertsForm = {
        // Its row is found by id, whether the path names the unit by id or by name.
        unitId: unit.id,
        slackTyped: url !== '',
        removeSlack: Boolean(raw.remove_slack),
        delay: String(raw.delay_s ?? '').trim(),
        deadLetters: String(raw.dead_letters ?? '').trim(),
        muted: Boolean(raw.muted),
      };
      const refuse = async (problems: { field: string; text: string }[]) => {
        const why = refusal(
          `unit-alerts-error-${form.unitId}`,
          problems.map((p) => p.text),
          problems.map((p) => p.field),
          'Nothing was saved.',
          form.slackTyped && !form.removeSlack ? [UNIT_ALERT_LABELS.slack_webhook_url] : [],
        );
        const shown = await unitsPage(state, {
          kind: 'alerts',
          form: {
            ...form,
            delay: form.delay.slice(0, 100),
            deadLetters: form.deadLetters.slice(0, 100),
          },
          why,
        });
        return reply.code(400).type('text/html').send(shown.text);
      };
      // Whole numbers in their ranges, the domain's (alerts.delay_s up to 30 days, counts up to
      // 1e9), said in the form's words; the domain checks them again for every caller.
      const numbers = [
        {
          field: 'alerts.delay_s',
          label: UNIT_ALERT_LABELS['alerts.delay_s'],
          value: form.delay,
          range: {
            min: 1,
            max: UNIT_SETTING_LIMITS.delaySeconds,
            of: 'seconds',
            note: '30 days',
          },
        },
        {
          field: 'alerts.dead_letters',
          label: UNIT_ALERT_LABELS['alerts.dead_letters'],
          value: form.deadLetters,
          range: { min: 0, max: UNIT_SETTING_LIMITS.count },
        },
      ];
      const wrong = numbers.flatMap(({ field, label, value, range }) => {
        const text = value === '' ? null : wholeNumberProblem(label, value, range);
        return text === null ? [] : [{ field, text }];
      });
      if (wrong.length > 0) return refuse(wrong);
      const delay = form.delay === '' ? undefined : Number(form.delay);
      const deadLetters = form.deadLetters === '' ? undefined : Number(form.deadLetters);
      try {
        // The form holds every threshold it shows: an emptied field goes back to the global value.
        await deps.alerts.updateSettings(state.scope, state.actor, unit.id, {
          ...(form.removeSlack ? { slackWebhookUrl: null } : url ? { slackWebhookUrl: url } : {}),
          replaceOverrides: true,
          overrides: {
            ...(delay !== undefined ? { delayMs: delay * 1000 } : {}),
            ...(deadLetters !== undefined ? { deadLetters } : {}),
            ...(settings.overrides.unconfirmed !== undefined
              ? { unconfirmed: settings.overrides.unconfirmed }
              : {}),
            ...(form.muted ? { muted: true } : {}),
          },
        });
      } catch (error) {
        if (!(error instanceof OperationsError) || error.kind !== 'invalid') throw error;
        return refuse(
          error.details.map((d) => ({
            field: d.field,
            text: fieldProblemText(UNIT_ALERT_LABELS, d.field, d.message),
          })),
        );
      }
      return reply.redirect('/console/units', 303);
    },
  );

  // --- users (admins) -----------------------------------------------------------------------
  /** What the new user's form held when it was refused; the password is never shown back. */
  interface UserForm {
    email: string;
    passwordTyped: boolean;
    role: string;
    units: string[];
    bodies: boolean;
  }

  async function usersPage(
    state: ConsoleRequestState,
    refused: { form: UserForm; why: Refusal } | null,
  ) {
    const [users, units] = await Promise.all([
      deps.accounts.listUsers(),
      deps.operations.listUnits(state.scope),
    ]);
    const names = new Map(units.map((u) => [u.id, u.name]));
    const typed = refused?.form;
    const why = refused?.why ?? null;
    const chosen = typed?.units ?? ['*'];
    const body = html`<form method="post" action="/console/users" class="card inline-form">${csrf(state)}
${refusalNotice(why)}
<label>${USER_LABELS.email} <input type="email" name="email" required value="${typed?.email ?? ''}"${invalidIf(why, 'email')}></label>
<label>${USER_LABELS.password} <input type="password" name="password" required minlength="12" autocomplete="new-password"${invalidIf(why, 'password')}></label>
<label>${USER_LABELS.role} <select name="role"${invalidIf(why, 'role')}>${CONSOLE_ROLES.map((r) => html`<option value="${r}"${typed?.role === r ? ' selected' : ''}>${r}</option>`)}</select></label>
<label>${USER_LABELS.units} <select name="units" multiple size="3"${invalidIf(why, 'units')}><option value="*"${chosen.includes('*') ? ' selected' : ''}>every unit</option>${units.map((u) => html`<option value="${u.id}"${chosen.includes(u.id) ? ' selected' : ''}>${u.name}</option>`)}</select></label>
<label><input type="checkbox" name="bodies" value="1"${typed === undefined || typed.bodies ? ' checked' : ''}> may read message content</label>
<button type="submit">Create user</button></form>
<table class="list"><thead><tr><th>E-mail</th><th>Role</th><th>Units</th><th>Content</th><th>Created</th><th>State</th></tr></thead>
<tbody>${users.map(
      (
        u,
      ) => html`<tr><td class="wrap">${u.email}</td><td>${u.role}</td><td>${u.unitIds === null ? 'every unit' : u.unitIds.map((id) => names.get(id) ?? id).join(', ')}</td>
<td>${u.canReadBodies ? 'yes' : 'metadata only'}</td><td>${time(u.createdAt)}</td><td>${userState(u, clock())}</td></tr>`,
    )}</tbody></table>`;
    return page('Users', state, body, '/console/users');
  }

  app.get(
    '/console/users',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      return reply.type('text/html').send((await usersPage(stateOf(request), null)).text);
    },
  );

  app.post(
    '/console/users',
    { config: { permission: 'administer', lists: ['units'], everyUnit: true } },
    async (request, reply) => {
      const state = stateOf(request);
      const raw = request.body as Record<string, string | undefined> & {
        units?: string | string[];
      };
      const password = raw.password ?? '';
      const form: UserForm = {
        email: (raw.email ?? '').slice(0, 1000),
        passwordTyped: password !== '',
        role: raw.role ?? '',
        // A multiple select sends the field once per choice.
        units: ([] as string[]).concat(raw.units ?? '*'),
        bodies: raw.bodies === '1',
      };
      // Refused: the page again, with the form as typed (but the password) and what is wrong.
      const refuse = async (status: number, problems: { field: string; text: string }[]) => {
        const why = refusal(
          'user-error',
          problems.map((p) => p.text),
          problems.map((p) => p.field),
          'No user was created.',
          form.passwordTyped ? [USER_LABELS.password] : [],
        );
        const shown = await usersPage(state, { form, why });
        return reply.code(status).type('text/html').send(shown.text);
      };
      if (!(CONSOLE_ROLES as readonly string[]).includes(form.role))
        return refuse(400, [
          { field: 'role', text: `“${USER_LABELS.role}” must be ${eitherOf(CONSOLE_ROLES)}.` },
        ]);
      const units = await deps.operations.listUnits(state.scope);
      // A unit that does not exist is refused, not dropped: a user of no unit at all sees nothing.
      if (form.units.some((id) => id !== '*' && !units.some((u) => u.id === id))) {
        return refuse(400, [
          {
            field: 'units',
            text: 'A unit chosen does not exist (any more): choose the units from the list again.',
          },
        ]);
      }
      const unitIds = form.units.includes('*') ? null : form.units;
      try {
        await deps.accounts.createUser(state.actor, {
          email: raw.email ?? '',
          password,
          role: form.role as ConsoleRole,
          unitIds,
          canReadBodies: form.bodies,
        });
      } catch (error) {
        if (!(error instanceof OperationsError) || !['invalid', 'exists'].includes(error.kind))
          throw error;
        return refuse(
          error.kind === 'exists' ? 409 : 400,
          error.kind === 'exists'
            ? [
                {
                  field: 'email',
                  text: `A user with the address ${normalizeEmail(form.email)} already exists.`,
                },
              ]
            : error.details.map((d) => ({
                field: d.field,
                text: fieldProblemText(USER_LABELS, d.field, d.message),
              })),
        );
      }
      return reply.redirect('/console/users', 303);
    },
  );

  // --- status webhook endpoints (admins) ----------------------------------------------------
  /** The units whose endpoints this admin manages: every unit, or the one it is looking at. */
  async function webhookUnits(state: ConsoleRequestState): Promise<{ id: string; name: string }[]> {
    if (state.scope.kind === 'all') return deps.operations.listUnits(state.scope);
    return state.units.filter((u) => u.id === state.unitId);
  }

  /**
   * The signed-in user and the endpoint the path's `:id` names, deleted ones too (their logs stay
   * readable), among those the user manages: or 404.
   */
  async function endpointOfPath(request: FastifyRequest) {
    const state = stateOf(request);
    const { id } = request.params as { id: string };
    const endpoint = await deps.webhooks.find(id, unitIdOf(state), { deleted: true });
    if (!endpoint) throw new ConsoleError(404, NO_ENDPOINT);
    return { state, id, endpoint };
  }

  /** What the new endpoint's form held when it was refused, shown again as typed. */
  interface EndpointForm {
    url: string;
    events: string[];
    unit: string;
  }

  /**
   * The endpoints' page. `redelivered`: the endpoint whose failed status webhooks were just
   * queued again, and how many; `refused`: the new endpoint's form as typed, and what is wrong.
   */
  async function webhooksPage(
    state: ConsoleRequestState,
    redelivered: { id: string; count: number } | null,
    refused: { form: EndpointForm; why: Refusal } | null,
  ) {
    const [endpoints, deleted] = await Promise.all([
      deps.webhooks.list(unitIdOf(state)),
      deps.webhooks.listDeleted(DELETED_ENDPOINTS_SHOWN, unitIdOf(state)),
    ]);
    const now = clock();
    // One more than shown: whether the endpoint's log goes on.
    const logs = await Promise.all(
      endpoints.map((e) => deps.webhooks.deliveries(e.id, { limit: WEBHOOK_LOG_SHOWN + 1 })),
    );
    const units = await webhookUnits(state);
    const unitName = (e: WebhookEndpoint) =>
      e.allUnits ? 'every unit' : `unit ${units.find((u) => u.id === e.unitId)?.name ?? e.unitId}`;
    const redeliveredNote = (e: WebhookEndpoint) =>
      redelivered?.id === e.id
        ? html`<p role="status" id="redelivered"><strong>${
            redelivered.count === 0
              ? 'No failed status webhook to post again.'
              : `${count(redelivered.count, 'failed status webhook')} queued to be posted again.`
          }</strong></p>`
        : '';
    const typed = refused?.form;
    const why = refused?.why ?? null;
    // Every event, until a refused form says which were picked.
    const events = typed?.events ?? WEBHOOK_EVENT_TYPES;
    const body = html`<form method="post" action="/console/webhooks" class="card inline-form">${csrf(state)}
${refusalNotice(why)}
<label>${ENDPOINT_LABELS.url} <input type="url" name="url" required placeholder="https://app.example.jp/tegami-hooks" value="${typed?.url ?? ''}"${invalidIf(why, 'url')}></label>
<label>${ENDPOINT_LABELS.events} <select name="events" multiple size="4" required${invalidIf(why, 'events')}>${WEBHOOK_EVENT_TYPES.map((t) => html`<option${events.includes(t) ? ' selected' : ''}>${t}</option>`)}</select></label>
<label>${ENDPOINT_LABELS.unit} <select name="unit"${invalidIf(why, 'unit')}>${state.scope.kind === 'all' ? html`<option value="">every unit</option>` : ''}${units.map((u) => html`<option value="${u.id}"${typed?.unit === u.id ? ' selected' : ''}>${u.name}</option>`)}</select></label>
<button type="submit">Add endpoint</button></form>
${endpoints.map((e, i) => {
  const log = logs[i] ?? [];
  return html`<section class="card" id="endpoint-${e.id}"><h2>${e.url}</h2>
<p>Events: ${e.events.join(', ')} · ${unitName(e)} · created ${time(e.createdAt)}${e.previousSecretExpiresAt !== null && e.previousSecretExpiresAt > now ? html` · the previous secret signs too until ${time(e.previousSecretExpiresAt)}` : ''}</p>
${redeliveredNote(e)}<form method="post" action="/console/webhooks/${e.id}/redeliver" class="inline">${csrf(state)}<button type="submit">Post failed status webhooks again</button></form>
<form method="post" action="/console/webhooks/${e.id}/rotate-secret" class="inline">${csrf(state)}<label>Old secret keeps signing <select name="keep_previous_for_seconds">${KEEP_PREVIOUS_CHOICES.map(([seconds, label]) => html`<option value="${seconds}" ${seconds === DEFAULT_PREVIOUS_SECRET_SECONDS ? 'selected' : ''}>${label}</option>`)}</select></label><button type="submit">Rotate secret</button></form>
<a class="button danger" href="/console/webhooks/${e.id}/delete">Delete endpoint…</a>
${deliveryTable(log.slice(0, WEBHOOK_LOG_SHOWN))}
<p><a href="/console/webhooks/${e.id}/deliveries">${log.length > WEBHOOK_LOG_SHOWN ? 'Older status webhooks, or those of one status or message →' : 'Status webhooks of one status or message →'}</a></p></section>`;
})}
${endpoints.length === 0 ? html`<p class="muted">No endpoint yet.</p>` : ''}
${
  deleted.length > 0
    ? html`<h2>Deleted endpoints</h2>
<p class="muted">Nothing is posted to them any more; their logs are kept until retention removes them.</p>
<ul id="deleted-endpoints">${deleted.map((e) => html`<li><code>${e.url}</code> · ${unitName(e)} · deleted ${time(e.deletedAt)} · <a href="/console/webhooks/${e.id}/deliveries">its log →</a></li>`)}</ul>`
    : ''
}`;
    return page('Status webhooks', state, body, '/console/webhooks');
  }

  app.get('/console/webhooks', { config: { permission: 'administer' } }, async (request, reply) => {
    // After "Redeliver": how many went back to the queue, said in that endpoint's card.
    const { redelivered, count: requeued } = request.query as Body;
    const shown = await webhooksPage(
      stateOf(request),
      redelivered && /^[0-9]{1,9}$/.test(requeued ?? '')
        ? { id: redelivered, count: Number(requeued) }
        : null,
      null,
    );
    return reply.type('text/html').send(shown.text);
  });

  // An endpoint's whole log, newest first, a page at a time, by status or message: what the
  // application was sent about a booking, and what it answered.
  app.get(
    '/console/webhooks/:id/deliveries',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      // A field given twice is one value that matches nothing, as a value mistyped.
      const query = request.query as Record<string, unknown>;
      const field = (name: string) => (query[name] === undefined ? '' : String(query[name]));
      const status = field('status') || undefined;
      const message = field('message').trim();
      const older = field('older') || undefined;
      if (status !== undefined && !isDeliveryStatus(status))
        throw new ConsoleError(400, 'status: pending, delivered or failed');
      if (older !== undefined && !/^whd_[0-9A-Z]{26}$/.test(older))
        throw new ConsoleError(400, 'That page of status webhooks does not exist.');
      // A deleted endpoint's log too, until retention removes it: what was posted to it before.
      const { state, id, endpoint } = await endpointOfPath(request);
      // A message id not understood is said above the form, which keeps what was typed.
      const badMessage = message !== '' && !MESSAGE_ID.test(message);
      const entries = badMessage
        ? []
        : await deps.webhooks.deliveries(id, {
            limit: WEBHOOK_LOG_PAGE_SIZE + 1,
            ...(older ? { beforeId: older } : {}),
            ...(status ? { status } : {}),
            ...(message ? { messageId: message } : {}),
          });
      const shown = entries.slice(0, WEBHOOK_LOG_PAGE_SIZE);
      const last = entries.length > WEBHOOK_LOG_PAGE_SIZE ? shown[shown.length - 1] : undefined;
      const filtered = status !== undefined || message !== '';
      const body = html`<p><a href="/console/webhooks">← Back to the endpoints</a></p>
<h2>Status webhooks to ${endpoint.url}, newest first</h2>
${endpoint.deletedAt !== null ? html`<div class="card notice" role="status" id="endpoint-deleted"><p>This endpoint was deleted ${time(endpoint.deletedAt)}: nothing has been posted to it since, and the status webhooks still pending then were marked failed (“endpoint deleted”). Its log is kept until retention removes it.</p></div>` : ''}
${badMessage ? html`<p class="error" role="alert" id="webhook-message-error">Message: ${MESSAGE_ID_IN_WORDS}.</p>` : ''}<form method="get" class="search inline-form">
<label>Status <select name="status"><option value="">any</option>${WEBHOOK_DELIVERY_STATUSES.map((s) => html`<option ${s === status ? 'selected' : ''}>${s}</option>`)}</select></label>
<label>Message id <input name="message" value="${message}" placeholder="msg_…"${badMessage ? html` aria-invalid="true" aria-describedby="webhook-message-error"` : ''}></label>
<button type="submit">Filter</button></form>
${deliveryTable(shown)}
${shown.length === 0 && !badMessage ? html`<p class="muted" role="status">${older ? 'No older status webhook matches.' : filtered ? 'No status webhook matches.' : 'No status webhook yet.'}</p>` : ''}
${last ? html`<p><a href="/console/webhooks/${id}/deliveries${qs({ status, message, older: last.id })}" rel="next">Older status webhooks →</a></p>` : ''}`;
      return reply
        .code(badMessage ? 400 : 200)
        .type('text/html')
        .send(page('Status webhooks', state, body, '/console/webhooks').text);
    },
  );

  app.post(
    '/console/webhooks',
    { config: { permission: 'administer', lists: ['events'] } },
    async (request, reply) => {
      const state = stateOf(request);
      const raw = request.body as Record<string, string | string[] | undefined>;
      const typedUrl = String(raw.url ?? '').trim();
      const form: EndpointForm = {
        url: typedUrl.slice(0, 4096),
        events: ([] as string[]).concat(raw.events ?? []),
        unit: String(raw.unit ?? ''),
      };
      // Refused: the page again, with the form as typed and what is wrong above it.
      const refuse = async (field: keyof EndpointForm, problem: string) => {
        const why = refusal('endpoint-error', problem, [field], 'No endpoint was added.');
        const shown = await webhooksPage(state, null, { form, why });
        return reply.code(400).type('text/html').send(shown.text);
      };
      const url = `“${ENDPOINT_LABELS.url}”`;
      // As POST /v1/webhook-endpoints.
      if (typedUrl.length > 2048) {
        return refuse('url', `${url} must be at most 2,048 characters.`);
      }
      let parsed: URL;
      try {
        parsed = new URL(typedUrl);
      } catch {
        return refuse(
          'url',
          `${url} must be a whole URL, like https://app.example.jp/tegami-hooks.`,
        );
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        return refuse('url', `${url} must start with https:// (or http://).`);
      }
      if (parsed.username || parsed.password) {
        // The user name and password are a credential: not shown back, taken out of the URL.
        parsed.username = '';
        parsed.password = '';
        form.url = parsed.toString().slice(0, 4096);
        return refuse(
          'url',
          `${url} must hold no user name or password (they were taken out of it): the receiver knows a status webhook by its signature.`,
        );
      }
      if (
        form.events.length === 0 ||
        form.events.some((e) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(e))
      ) {
        return refuse(
          'events',
          `Pick one event or more for “${ENDPOINT_LABELS.events}”: ${eitherOf(WEBHOOK_EVENT_TYPES)}.`,
        );
      }
      const units = await webhookUnits(state);
      const unit = form.unit ? units.find((u) => u.id === form.unit) : undefined;
      if (form.unit && !unit)
        return refuse(
          'unit',
          'That unit does not exist, or is not yours to manage: choose one from the list.',
        );
      if (!unit && state.scope.kind !== 'all') {
        return refuse(
          'unit',
          'Choose a unit: only an admin of every unit adds an endpoint for every unit.',
        );
      }
      const refused = await deps.checkDestination(parsed.toString());
      if (refused) return refuse('url', `${url} ${refused}.`);
      // An endpoint of every unit still names one (as an admin key's does: its own, `default`).
      const home = unit ?? (await deps.operations.findUnit('default'));
      const endpoint = await deps.webhooks.create({
        url: parsed.toString(),
        events: [...new Set(form.events)],
        secret: generateWebhookSecret(),
        now: clock(),
        unitId: home?.id ?? '',
        allUnits: !unit,
      });
      await deps.operations.record(state.actor, 'webhook_endpoint.create', {
        unitId: unit ? unit.id : null,
        target: endpoint.id,
        filter: { url: endpoint.url, events: endpoint.events },
      });
      const body = html`<div class="card notice" role="status"><p>Status webhooks to <strong>${endpoint.url}</strong> are signed with this secret, shown only this once; keep it now:</p><pre data-new-secret>${endpoint.secret}</pre></div>
<p><a href="/console/webhooks">Back to the endpoints</a></p>`;
      return reply
        .type('text/html')
        .send(page('Endpoint added', state, body, '/console/webhooks').text);
    },
  );

  // Deleting asks first, on a page of its own (as a recovery's dry run does): one click on the
  // endpoints' page deletes nothing, with or without JavaScript.
  app.get(
    '/console/webhooks/:id/delete',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      const { state, id, endpoint } = await endpointOfPath(request);
      // Deleted already (someone else was first, or Back after deleting): its log says so.
      if (endpoint.deletedAt !== null) {
        return reply.redirect(`/console/webhooks/${id}/deliveries`, 303);
      }
      const units = await webhookUnits(state);
      const unit = endpoint.allUnits
        ? 'every unit'
        : `unit ${units.find((u) => u.id === endpoint.unitId)?.name ?? endpoint.unitId}`;
      // Counted up to one more than said: "more than 1,000" rather than a long backlog's count.
      const pending = await deps.webhooks.countPending(id, PENDING_COUNTED + 1);
      const many = pending > PENDING_COUNTED;
      const waiting =
        pending === 0
          ? html`No status webhook to it is waiting to be posted.`
          : html`<strong>${many ? `More than ${count(PENDING_COUNTED, 'status webhook')}` : count(pending, 'status webhook')} still waiting to be posted to it ${oneOrMany(pending, 'is', 'are')} never posted</strong>: ${oneOrMany(pending, 'it is', 'they are')} marked failed (“endpoint deleted”).`;
      const body = html`<p><a href="/console/webhooks#endpoint-${id}">← Back to the endpoints</a></p>
<section class="card" id="confirm-delete"><p>Delete the endpoint <strong>${endpoint.url}</strong> (${unit}, events ${endpoint.events.join(', ')})?</p>
<p>Nothing more is posted to it. ${waiting} Its log stays readable, under Deleted endpoints, until retention removes it. A deleted endpoint cannot be brought back: one added again gets a new secret, which the application must be given.</p>
<form method="post" action="/console/webhooks/${id}/delete" class="inline">${csrf(state)}<button type="submit" class="danger">Delete endpoint</button></form>
<a class="button secondary" href="/console/webhooks#endpoint-${id}">Keep it</a></section>`;
      return reply
        .type('text/html')
        .send(page('Delete a status webhook endpoint', state, body, '/console/webhooks').text);
    },
  );

  app.post(
    '/console/webhooks/:id/delete',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      const { state, id, endpoint } = await endpointOfPath(request);
      // Deleted already (the button clicked twice, or someone else was first): the page shows it
      // so, rather than an error about the second click.
      if (!(await deps.webhooks.disable(id, clock(), unitIdOf(state)))) {
        return reply.redirect('/console/webhooks', 303);
      }
      await deps.operations.record(state.actor, 'webhook_endpoint.delete', {
        unitId: endpoint.allUnits ? null : endpoint.unitId,
        target: id,
      });
      return reply.redirect('/console/webhooks', 303);
    },
  );

  app.post(
    '/console/webhooks/:id/redeliver',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      const state = stateOf(request);
      const { id } = request.params as { id: string };
      const endpoint = await deps.webhooks.find(id, unitIdOf(state));
      if (!endpoint) throw new ConsoleError(404, NO_ACTIVE_ENDPOINT);
      const n = await deps.webhooks.redeliver(id, null, clock());
      await deps.operations.record(state.actor, 'webhook_endpoint.redeliver', {
        unitId: endpoint.unitId,
        target: id,
        counts: { requeued: n },
      });
      return reply.redirect(
        `/console/webhooks${qs({ redelivered: id, count: n })}#endpoint-${id}`,
        303,
      );
    },
  );

  app.post(
    '/console/webhooks/:id/rotate-secret',
    { config: { permission: 'administer' } },
    async (request, reply) => {
      const state = stateOf(request);
      const { id } = request.params as { id: string };
      const raw = String((request.body as Body | undefined)?.keep_previous_for_seconds ?? '');
      // As POST /v1/webhook-endpoints/{id}/rotate-secret; the form offers a few windows only.
      const keepSeconds = /^[0-9]{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(keepSeconds >= 0 && keepSeconds <= MAX_PREVIOUS_SECRET_SECONDS)) {
        throw new ConsoleError(
          400,
          `keep_previous_for_seconds: 0 to ${MAX_PREVIOUS_SECRET_SECONDS} seconds`,
        );
      }
      const now = clock();
      const endpoint = await deps.webhooks.rotateSecret(
        id,
        {
          secret: generateWebhookSecret(),
          previousExpiresAt: keepSeconds > 0 ? now + keepSeconds * 1000 : null,
        },
        unitIdOf(state),
      );
      if (!endpoint) throw new ConsoleError(404, NO_ACTIVE_ENDPOINT);
      await deps.operations.record(state.actor, 'webhook_endpoint.rotate_secret', {
        unitId: endpoint.allUnits ? null : endpoint.unitId,
        target: id,
        filter: { keep_previous_for_seconds: keepSeconds },
      });
      const until =
        endpoint.previousSecretExpiresAt === null
          ? html`The previous secret no longer signs anything.`
          : html`The previous secret also signs every status webhook until ${time(endpoint.previousSecretExpiresAt)}: give the receiver the new one before then.`;
      const body = html`<div class="card notice" role="status"><p>Status webhooks to <strong>${endpoint.url}</strong> are signed with this new secret, shown only this once; keep it now:</p><pre data-new-secret>${endpoint.secret}</pre><p>${until}</p></div>
<p><a href="/console/webhooks">Back to the endpoints</a></p>`;
      return reply
        .type('text/html')
        .send(page('Secret rotated', state, body, '/console/webhooks').text);
    },
  );

  // --- audit log ----------------------------------------------------------------------------
  app.get('/console/audit', { config: { permission: 'read' } }, async (request, reply) => {
    const state = stateOf(request);
    const {
      action,
      actor,
      after,
      before,
      format,
      older: olderThan,
    } = request.query as Body & { format?: string; older?: string };
    if (action && !(AUDIT_ACTIONS as readonly string[]).includes(action))
      throw new ConsoleError(400, 'action: not an action');
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
