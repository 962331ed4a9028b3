import type { FastifyInstance } from 'fastify';
import {
  apiKeyNameProblem,
  createApiKey,
  revokeApiKey,
  shownKeyPrefix,
} from '../../../domain/api-keys.ts';
import { isIdOf } from '../../../domain/ids.ts';
import { isPriority, PRIORITIES } from '../../../domain/priority.ts';
import type { ConsoleDeps } from '../../deps.ts';
import { html, qs, time } from '../../html.ts';
import { csrf, page } from '../../layout.ts';
import { invalidIf, type Refusal, refusal, refusalNotice } from '../../refusal.ts';
import { ConsoleError, type ConsoleRequestState, type Fields, stateOf } from '../../session.ts';
import { noUnitNamed, unitField, unitOfField, unitsToList } from '../../unit-field.ts';
import { fieldProblemText } from '../words.ts';

// The form's labels, by the names the domain gives its fields (as the API does): a refusal names
// a field as the form shows it.
const KEY_LABELS = { name: 'Name', unit: 'Unit', priority: 'Priority of its mail' } as const;

/**
 * Keys per page of the API keys page, newest first: a key just made is on the first page, under
 * the form that made it, as the audit log and every list the API pages by id put the newest
 * first. Each row holds its own revoke form.
 */
const KEYS_PAGE_SIZE = 50;

/** A page link's cursor (`older`): the id of the last key of the page before. */

const NO_SUCH_PAGE = 'That page of API keys does not exist.';

/** API keys (admins of every unit): the list, a new key shown once, revoking one. */
export function registerKeyPages(app: FastifyInstance, deps: ConsoleDeps): void {
  const clock = deps.clock ?? Date.now;

  /**
   * The cursor `older` of a page or a form: undefined on the first page (a form there sends none,
   * or an empty one). A cursor no link of this page made, or naming no key, is refused with 400
   * before anything is done. Keys are never deleted, only revoked, so a link made earlier still
   * works.
   */
  async function pageCursor(older: string | undefined): Promise<string | undefined> {
    if (older === undefined || older === '') return undefined;
    if (!isIdOf('key', older) || !(await deps.keys.findById(older)))
      throw new ConsoleError(400, NO_SUCH_PAGE);
    return older;
  }

  /** What the key form held when it was refused, shown again as typed. */
  interface KeyForm {
    name: string;
    unit: string;
    admin: boolean;
    priority: string;
  }

  /**
   * A page of keys, newest first, those made before the key `older` (none: the first page).
   * `created`: a key just made, its secret shown once above the form (it is on the first page);
   * `refused`: the new key's form as typed, with what is wrong said in it.
   */
  async function keysPage(
    state: ConsoleRequestState,
    older: string | undefined,
    created: { key: string; name: string } | null,
    refused: { form: KeyForm; why: Refusal } | null = null,
  ) {
    const [found, units] = await Promise.all([
      // One more than a page: whether an older page exists (keyset, by id).
      deps.keys.listPage({
        limit: KEYS_PAGE_SIZE + 1,
        ...(older !== undefined ? { beforeId: older } : {}),
      }),
      unitsToList(deps, state.scope),
    ]);
    const keys = found.slice(0, KEYS_PAGE_SIZE);
    const last = found.length > KEYS_PAGE_SIZE ? keys[keys.length - 1] : undefined;
    // The names of the units of this page's keys only.
    const names = await deps.operations.unitNames(keys.map((k) => k.unitId));
    const typed = refused?.form;
    const why = refused?.why ?? null;
    // Each form says which page it was on, for its answer to come back to that page.
    const onThisPage = older ? html`<input type="hidden" name="older" value="${older}">` : '';
    return page(
      'API keys',
      state,
      html`${created ? html`<div class="card notice" role="status"><p>The key <strong>${created.name}</strong>, shown only this once; keep it now:</p><pre data-new-key>${created.key}</pre></div>` : ''}
<form method="post" action="/console/keys" class="card inline-form">${csrf(state)}${onThisPage}
${refusalNotice(why)}
<label>Name <input name="name" required maxlength="200" value="${typed?.name ?? ''}"${invalidIf(why, 'name')}></label>
<label>Unit ${unitField(units, { name: 'unit', typed: typed?.unit, invalid: invalidIf(why, 'unit') })}</label>
<label><input type="checkbox" name="admin" value="1"${typed?.admin ? ' checked' : ''}> admin (every unit)</label>
<label>Priority of its mail <select name="priority"${invalidIf(why, 'priority')}><option value="">the unit's default</option>${PRIORITIES.map((p) => html`<option value="${p}"${typed?.priority === p ? ' selected' : ''}>${p}</option>`)}</select></label>
<button type="submit">Create key</button></form>
<table class="list"><thead><tr><th>Name</th><th>Prefix</th><th>Unit</th><th>Created</th><th>State</th><th><span class="visually-hidden">Revoke</span></th></tr></thead>
<tbody>${keys.map(
        (
          k,
        ) => html`<tr id="key-${k.id}"><td class="wrap">${k.name}</td><td><code>${shownKeyPrefix(k.prefix)}…</code></td><td>${names.get(k.unitId) ?? k.unitId}${k.admin ? ' (admin)' : ''}${k.defaultPriority ? `, ${k.defaultPriority} priority` : ''}</td><td>${time(k.createdAt)}</td>
<td>${k.revokedAt ? html`revoked ${time(k.revokedAt)}` : 'active'}</td>
<td>${k.revokedAt ? '' : html`<form method="post" action="/console/keys/${k.id}/revoke#key-${k.id}" class="inline">${csrf(state)}${onThisPage}<button type="submit" class="danger">Revoke</button></form>`}</td></tr>`,
      )}</tbody></table>
${keys.length === 0 ? html`<p class="muted" role="status">No more keys.</p>` : ''}
${last ? html`<p><a href="/console/keys${qs({ older: last.id })}" rel="next">Older keys →</a></p>` : ''}`,
      '/console/keys',
    );
  }

  app.get(
    '/console/keys',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const older = await pageCursor((request.query as Fields).older);
      return reply.type('text/html').send((await keysPage(stateOf(request), older, null)).text);
    },
  );

  app.post(
    '/console/keys',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const state = stateOf(request);
      const body = request.body as Fields;
      const older = await pageCursor(body.older);
      const form: KeyForm = {
        name: body.name ?? '',
        unit: body.unit ?? '',
        admin: body.admin === '1',
        priority: body.priority ?? '',
      };
      // Refused: the page again, with the form as typed and what is wrong above it.
      const refuse = async (field: keyof KeyForm, problem: string) => {
        const why = refusal('key-error', problem, [field], 'No key was created.');
        const shown = await keysPage(state, older, null, {
          form: { ...form, name: form.name.slice(0, 1000), unit: form.unit.slice(0, 1000) },
          why,
        });
        return reply.code(400).type('text/html').send(shown.text);
      };
      const name = form.name.trim();
      const problem = apiKeyNameProblem(name);
      if (problem) return refuse('name', fieldProblemText(KEY_LABELS, 'name', problem));
      // By id (the list's) or by name (typed, when there are too many units to list).
      const named = await unitOfField(deps, form.unit);
      if (named.kind === 'no_such_name') return refuse('unit', noUnitNamed(form.unit));
      if (named.kind === 'no_such_id')
        return refuse('unit', 'That unit does not exist: choose one from the list.');
      const { unit } = named;
      const priority = form.priority || undefined;
      if (priority !== undefined && !isPriority(priority))
        return refuse(
          'priority',
          `“${KEY_LABELS.priority}” must be ${PRIORITIES.join(', ')} or the unit's default.`,
        );
      const { key } = await createApiKey(deps.keys, name, clock(), {
        unitId: unit.id,
        admin: form.admin,
        defaultPriority: priority ?? null,
        // Recorded with the key, as `tegami keys create` does.
        actor: state.actor,
      });
      // The first page, where the new key is the newest: its secret can be shown only in this
      // answer (never in a URL to redirect to), so the form is answered with the page itself.
      return reply.type('text/html').send((await keysPage(state, undefined, { key, name })).text);
    },
  );

  app.post(
    '/console/keys/:id/revoke',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const state = stateOf(request);
      const { id } = request.params as { id: string };
      const older = await pageCursor((request.body as Fields).older);
      const key = await deps.keys.findById(id);
      if (!key || !(await revokeApiKey(deps.keys, key, state.actor, clock())))
        throw new ConsoleError(404, 'No such active key.');
      // Back to the page the form was on, where its row now says it is revoked; the browser keeps
      // the action's #key-… for the answer.
      return reply.redirect(`/console/keys${qs({ older })}`, 303);
    },
  );
}
