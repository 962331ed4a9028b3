import type { FastifyInstance } from 'fastify';
import { maskUrl, UNIT_SETTING_LIMITS } from '../../../domain/alerts/service.ts';
import { isIdOf } from '../../../domain/ids.ts';
import { OperationsError } from '../../../domain/operations/errors.ts';
import type { Unit } from '../../../domain/operations/units.ts';
import type { ConsoleDeps } from '../../deps.ts';
import { html, qs, time } from '../../html.ts';
import { csrf, page } from '../../layout.ts';
import { invalidIf, type Refusal, refusal, refusalNotice } from '../../refusal.ts';
import { ConsoleError, type ConsoleRequestState, type Fields, stateOf } from '../../session.ts';
import { fieldProblemText, wholeNumberProblem } from '../words.ts';

// The forms' labels, by the names the domain gives their fields (as the API does): a refusal
// names a field as the form shows it.
const UNIT_LABELS = { name: 'Name' } as const;
const UNIT_ALERT_LABELS = {
  slack_webhook_url: 'Slack channel',
  'alerts.delay_s': 'Delay alert after (s)',
  'alerts.dead_letters': 'Dead letters over',
} as const;

/**
 * Units per page of the units page, by name, as the API's `GET /v1/units` gives them unasked:
 * each row holds its own alert form, and the settings of a page are read in one query.
 */
const UNITS_PAGE_SIZE = 50;

/** A page link's cursor: the id of the last unit of the page before. */

const NO_SUCH_PAGE = 'That page of units does not exist.';
const NO_SUCH_UNIT = 'That unit does not exist.';

/** The unit a page says was just created. */
type CreatedUnit = Pick<Unit, 'id' | 'name'>;

/** Units (admins of every unit): the list, a new unit, each unit's alert settings. */
export function registerUnitPages(app: FastifyInstance, deps: ConsoleDeps): void {
  /**
   * The cursor `after` of a page or a form: undefined on the first page (a form there sends
   * none, or an empty one). A cursor no link of this page made, or naming no unit, is refused
   * with 400 before anything is done: a page after a unit that is not there would read as the
   * end of the list. Units are never deleted, so a link made earlier still works.
   */
  async function pageCursor(after: string | undefined): Promise<string | undefined> {
    if (after === undefined || after === '') return undefined;
    if (!isIdOf('unit', after) || !(await deps.operations.unitNames([after])).has(after))
      throw new ConsoleError(400, NO_SUCH_PAGE);
    return after;
  }

  /**
   * The unit a page says was just created (`created`, its id): its name is read from the units,
   * so a link cannot make the page say anything else. An id naming no unit is refused with 400.
   */
  async function createdUnit(id: string | undefined): Promise<CreatedUnit | null> {
    if (id === undefined || id === '') return null;
    const name = isIdOf('unit', id) ? (await deps.operations.unitNames([id])).get(id) : undefined;
    if (name === undefined) throw new ConsoleError(400, NO_SUCH_UNIT);
    return { id, name };
  }

  /**
   * The cursor of a page that draws `unit`: the page the form was on (`after`) when the unit is
   * among its rows, or else the page that begins at it (after the unit named just before it).
   * With more than a page of units a new one may belong anywhere in the list.
   */
  async function pageDrawing(
    state: ConsoleRequestState,
    unit: Unit,
    after: string | undefined,
  ): Promise<string | undefined> {
    const current = await deps.operations.listUnits(state.scope, {
      limit: UNITS_PAGE_SIZE,
      ...(after !== undefined ? { afterId: after } : {}),
    });
    if (current.some((u) => u.id === unit.id)) return after;
    return (await deps.operations.unitNamedBefore(state.scope, unit.name))?.id;
  }

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
   * A page of units by name, those after the unit `after` (none: the first page), with their
   * settings, read in one query. `refused`: the new unit's name, or one unit's alert form, as
   * typed, with what is wrong said in that form. `created`: the unit just created, said above
   * the form.
   */
  async function unitsPage(
    state: ConsoleRequestState,
    after: string | undefined,
    refused:
      | { kind: 'create'; name: string; why: Refusal }
      | { kind: 'alerts'; form: UnitAlertsForm; why: Refusal }
      | null,
    created: CreatedUnit | null = null,
  ) {
    // One more than a page: whether a next page exists (keyset, by name).
    const pageOfUnits = (afterId: string | undefined) =>
      deps.operations.listUnitsWithSettings(state.scope, {
        limit: UNITS_PAGE_SIZE + 1,
        ...(afterId !== undefined ? { afterId } : {}),
      });
    let found = await pageOfUnits(after);
    const refusedUnitId = refused?.kind === 'alerts' ? refused.form.unitId : undefined;
    // Among the rows drawn: the one read beyond them only tells that a next page exists.
    const drawn = (rows: typeof found) => rows.slice(0, UNITS_PAGE_SIZE);
    if (
      refusedUnitId !== undefined &&
      !drawn(found).some(({ unit }) => unit.id === refusedUnitId)
    ) {
      // The refused unit's form is not on the page it came from (a unit created since, named
      // before it, moved it to the next page; or the form came without its page): the page
      // begins at that unit instead, so that what is wrong is said in its row.
      const first = await deps.operations.unitWithSettings(state.scope, refusedUnitId);
      found = [first, ...(await pageOfUnits(refusedUnitId))];
    }
    const units = drawn(found);
    const last = found.length > UNITS_PAGE_SIZE ? units[units.length - 1] : undefined;
    // Each form says which page it was on, for its answer to come back to that page.
    const onThisPage = after ? html`<input type="hidden" name="after" value="${after}">` : '';
    const typedName = refused?.kind === 'create' ? refused : null;
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
<td><form method="post" action="/console/units/${u.id}/alerts#unit-${u.id}" class="inline-form">${csrf(state)}${onThisPage}
${refusalNotice(why)}
<label>${UNIT_ALERT_LABELS.slack_webhook_url} <input name="slack_webhook_url" type="url" placeholder="${maskUrl(s.slackWebhookUrl) ?? 'the global channel'}"${invalidIf(why, 'slack_webhook_url')}></label>
<label><input type="checkbox" name="remove_slack" value="1"${typed?.removeSlack ? ' checked' : ''}> use the global channel</label>
<label>${UNIT_ALERT_LABELS['alerts.delay_s']} <input name="delay_s" type="number" min="1" value="${delay}" placeholder="global"${invalidIf(why, 'alerts.delay_s')}></label>
<label>${UNIT_ALERT_LABELS['alerts.dead_letters']} <input name="dead_letters" type="number" min="0" value="${deadLetters}" placeholder="global"${invalidIf(why, 'alerts.dead_letters')}></label>
<label><input type="checkbox" name="muted" value="1"${muted ? ' checked' : ''}> muted</label>
<button type="submit">Save</button></form></td></tr>`;
    });
    const why = typedName?.why ?? null;
    // Where the admin's eyes are after "Create unit", read out; its name links to its row (which
    // may be far down the page).
    const drawnCreated = created !== null && units.some(({ unit }) => unit.id === created.id);
    const createdNotice = created
      ? html`<div class="card notice" role="status" id="unit-created"><p>Created unit ${drawnCreated ? html`<a href="#unit-${created.id}"><strong>${created.name}</strong></a>` : html`<strong>${created.name}</strong>`}.</p></div>`
      : '';
    const body = html`${createdNotice}<form method="post" action="/console/units" class="card inline-form">${csrf(state)}${onThisPage}
${refusalNotice(why)}
<label>Name <input name="name" required pattern="[a-z0-9_-]{1,63}" value="${typedName?.name ?? ''}"${invalidIf(why, 'name')}></label><button type="submit">Create unit</button></form>
<table class="list"><thead><tr><th>Name</th><th>Id</th><th>Created</th><th>Alerts (Slack channel, thresholds)</th></tr></thead>
<tbody>${rows}</tbody></table>
${units.length === 0 ? html`<p class="muted" role="status">No more units.</p>` : ''}
${last ? html`<p><a href="/console/units${qs({ after: last.unit.id })}" rel="next">Next units →</a></p>` : ''}`;
    return page('Units', state, body, '/console/units');
  }

  app.get(
    '/console/units',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const query = request.query as Fields;
      const after = await pageCursor(query.after);
      const created = await createdUnit(query.created);
      const shown = await unitsPage(stateOf(request), after, null, created);
      return reply.type('text/html').send(shown.text);
    },
  );

  app.post(
    '/console/units',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const state = stateOf(request);
      const form = request.body as Fields;
      const after = await pageCursor(form.after);
      const typed = form.name ?? '';
      const name = typed.trim();
      let unit: Unit;
      try {
        unit = await deps.operations.createUnit(state.scope, state.actor, name);
      } catch (error) {
        if (!(error instanceof OperationsError) || !['invalid', 'exists'].includes(error.kind))
          throw error;
        // The page again, with the name as typed and what is wrong above it.
        const problems =
          error.kind === 'exists'
            ? [`A unit named “${name}” already exists: choose another name.`]
            : error.details.map((d) => fieldProblemText(UNIT_LABELS, d.field, d.message));
        const why = refusal('unit-error', problems, ['name'], 'No unit was created.');
        const shown = await unitsPage(state, after, {
          kind: 'create',
          name: typed.slice(0, 200),
          why,
        });
        return reply
          .code(error.kind === 'exists' ? 409 : 400)
          .type('text/html')
          .send(shown.text);
      }
      // The page that draws the new unit, which says it was created.
      const drawing = await pageDrawing(state, unit, after);
      return reply.redirect(`/console/units${qs({ after: drawing, created: unit.id })}`, 303);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/console/units/:id/alerts',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const state = stateOf(request);
      const raw = request.body as Fields;
      const after = await pageCursor(raw.after);
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
        const shown = await unitsPage(state, after, {
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
      // Back to the page the form was on; the browser keeps the action's #unit-… for the answer.
      return reply.redirect(`/console/units${qs({ after })}`, 303);
    },
  );
}
