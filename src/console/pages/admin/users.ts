import type { FastifyInstance } from 'fastify';
import {
  CONSOLE_ROLES,
  type ConsoleRole,
  type ConsoleUser,
  lockOf,
  normalizeEmail,
} from '../../../domain/console-users.ts';
import { isIdOf } from '../../../domain/ids.ts';
import { OperationsError } from '../../../domain/operations/errors.ts';
import type { ConsoleDeps } from '../../deps.ts';
import { html, qs, time } from '../../html.ts';
import { csrf, page } from '../../layout.ts';
import { olderThanCursor } from '../../page-link.ts';
import { invalidIf, type Refusal, refusal, refusalNotice } from '../../refusal.ts';
import { ConsoleError, type ConsoleRequestState, type Fields, stateOf } from '../../session.ts';
import { noUnitNamed, UNITS_LISTED_AT_MOST, unitOfField, unitsToList } from '../../unit-field.ts';
import { eitherOf, fieldProblemText } from '../words.ts';

// The form's labels, by the names the domain gives its fields (as the API does): a refusal names
// a field as the form shows it.
const USER_LABELS = {
  email: 'E-mail',
  password: 'Password',
  role: 'Role',
  units: 'Units',
} as const;

const NO_SUCH_USER = 'That user does not exist.';

/** A unit chosen that is not there: an id, or nothing, as no list on the page offers. */
const NO_UNIT_CHOSEN =
  'A unit chosen does not exist (any more): choose the units from the list again.';

/**
 * Users per page of the users page, newest first, as the API keys page lists keys: a user just
 * created heads the first page, which the form's answer shows with "Created user …", whatever
 * the address (by address, a new user could be on any page).
 */
const USERS_PAGE_SIZE = 50;

const NO_SUCH_PAGE = 'That page of users does not exist.';

/** Active, disabled, or locked (for everyone, or for the addresses that failed) until a time. */
function userState(user: ConsoleUser, now: number) {
  if (user.disabledAt !== null) return 'disabled';
  const lock = lockOf(user, now);
  if (!lock) return 'active';
  return lock.scope === 'account'
    ? html`locked until ${time(lock.until)}`
    : html`locked until ${time(lock.until)} for some addresses`;
}

/** Console users (admins of every unit): the list with each user's state, a new user. */
export function registerUserPages(app: FastifyInstance, deps: ConsoleDeps): void {
  const clock = deps.clock ?? Date.now;

  /**
   * The cursor `older` of a page or a form: undefined on the first page (a form there sends none,
   * or an empty one). A cursor no link of this page made, or naming no user, is refused with 400
   * before anything is done. Users are never deleted, so a link made earlier still works.
   */
  async function pageCursor(older: string | undefined): Promise<string | undefined> {
    const cursor = olderThanCursor(older, 'usr', 'users');
    if (cursor !== undefined && !(await deps.accounts.findUserById(cursor)))
      throw new ConsoleError(400, NO_SUCH_PAGE);
    return cursor;
  }

  /**
   * The user a page says was just created (`created`, its id): its address is read from the
   * users, so a link cannot make the page say anything else. An id naming no user is refused
   * with 400.
   */
  async function createdUser(id: string | undefined): Promise<ConsoleUser | null> {
    if (id === undefined || id === '') return null;
    const user = isIdOf('usr', id) ? await deps.accounts.findUserById(id) : null;
    if (!user) throw new ConsoleError(400, NO_SUCH_USER);
    return user;
  }

  /** What the new user's form held when it was refused; the password is never shown back. */
  interface UserForm {
    email: string;
    passwordTyped: boolean;
    role: string;
    units: string[];
    bodies: boolean;
  }

  /**
   * A page of users, newest first, those created before the user `older` (none: the first page),
   * under the new user's form. `refused`: the form as typed, with what is wrong said in it.
   * `created`: the user just created, said above the form.
   */
  async function usersPage(
    state: ConsoleRequestState,
    older: string | undefined,
    refused: { form: UserForm; why: Refusal } | null,
    created: ConsoleUser | null = null,
  ) {
    const [found, units] = await Promise.all([
      // One more than a page: whether an older page exists (keyset, by id).
      deps.accounts.listUserPage({
        limit: USERS_PAGE_SIZE + 1,
        ...(older !== undefined ? { beforeId: older } : {}),
      }),
      unitsToList(deps, state.scope),
    ]);
    const users = found.slice(0, USERS_PAGE_SIZE);
    const last = found.length > USERS_PAGE_SIZE ? users[users.length - 1] : undefined;
    // The names of the units of this page's users only.
    const names = await deps.operations.unitNames(users.flatMap((u) => u.unitIds ?? []));
    const typed = refused?.form;
    const why = refused?.why ?? null;
    const chosen = typed?.units ?? ['*'];
    // Each form says which page it was on, for its answer to come back to that page.
    const onThisPage = older ? html`<input type="hidden" name="older" value="${older}">` : '';
    // Where the admin's eyes are after "Create user", read out; the address links to the user's
    // row, which may be far down the page. The password is the one the admin typed: never shown.
    const drawnCreated = created !== null && users.some((u) => u.id === created.id);
    const createdNotice = created
      ? html`<div class="card notice" role="status" id="user-created"><p>Created user ${drawnCreated ? html`<a href="#user-${created.id}"><strong>${created.email}</strong></a>` : html`<strong>${created.email}</strong>`}.</p></div>`
      : '';
    // Too many units to list: their names typed, separated by commas.
    const unitsField =
      units === null
        ? html`<input name="units" required value="${chosen.join(', ').slice(0, 1000)}" placeholder="* for every unit, or units' names, separated by commas" autocomplete="off"${invalidIf(why, 'units')}>`
        : html`<select name="units" multiple size="3"${invalidIf(why, 'units')}><option value="*"${chosen.includes('*') ? ' selected' : ''}>every unit</option>${units.map((u) => html`<option value="${u.id}"${chosen.includes(u.id) ? ' selected' : ''}>${u.name}</option>`)}</select>`;
    const body = html`${createdNotice}<form method="post" action="/console/users" class="card inline-form">${csrf(state)}${onThisPage}
${refusalNotice(why)}
<label>${USER_LABELS.email} <input type="email" name="email" required value="${typed?.email ?? ''}"${invalidIf(why, 'email')}></label>
<label>${USER_LABELS.password} <input type="password" name="password" required minlength="12" autocomplete="new-password"${invalidIf(why, 'password')}></label>
<label>${USER_LABELS.role} <select name="role"${invalidIf(why, 'role')}>${CONSOLE_ROLES.map((r) => html`<option value="${r}"${typed?.role === r ? ' selected' : ''}>${r}</option>`)}</select></label>
<label>${USER_LABELS.units} ${unitsField}</label>
<label><input type="checkbox" name="bodies" value="1"${typed === undefined || typed.bodies ? ' checked' : ''}> may read message content</label>
<button type="submit">Create user</button></form>
<table class="list"><thead><tr><th>E-mail</th><th>Role</th><th>Units</th><th>Content</th><th>Created</th><th>State</th></tr></thead>
<tbody>${users.map(
      (
        u,
      ) => html`<tr id="user-${u.id}"><td class="wrap">${u.email}</td><td>${u.role}</td><td>${u.unitIds === null ? 'every unit' : u.unitIds.map((id) => names.get(id) ?? id).join(', ')}</td>
<td>${u.canReadBodies ? 'yes' : 'metadata only'}</td><td>${time(u.createdAt)}</td><td>${userState(u, clock())}</td></tr>`,
    )}</tbody></table>
${users.length === 0 ? html`<p class="muted" role="status">No more users.</p>` : ''}
${last ? html`<p><a href="/console/users${qs({ older: last.id })}" rel="next">Older users →</a></p>` : ''}`;
    return page('Users', state, body, '/console/users');
  }

  /**
   * The units a new user's form names, by id (the list's choices) or name (typed, separated by
   * commas, when there are too many units to list); `*` is every unit. Each is looked up by
   * itself, and one that does not exist is refused, not dropped: a user of no unit at all sees
   * nothing.
   */
  async function unitsOfForm(
    values: string[],
  ): Promise<{ unitIds: string[] | null } | { problems: string[] }> {
    const given = [...new Set(values.flatMap((v) => v.split(',')).map((v) => v.trim()))];
    const named = given.filter((v) => v !== '*');
    if (named.length > UNITS_LISTED_AT_MOST)
      return {
        problems: [`Give at most ${UNITS_LISTED_AT_MOST} units by name, or * for every unit.`],
      };
    const unitIds: string[] = [];
    const problems: string[] = [];
    for (const value of named) {
      const unit = await unitOfField(deps, value);
      if (unit.kind === 'found') unitIds.push(unit.unit.id);
      else if (unit.kind === 'no_such_name') problems.push(noUnitNamed(value));
      else if (!problems.includes(NO_UNIT_CHOSEN)) problems.push(NO_UNIT_CHOSEN);
    }
    if (problems.length > 0) return { problems };
    return { unitIds: given.includes('*') ? null : unitIds };
  }

  app.get(
    '/console/users',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const query = request.query as Fields;
      const older = await pageCursor(query.older);
      const created = await createdUser(query.created);
      const shown = await usersPage(stateOf(request), older, null, created);
      return reply.type('text/html').send(shown.text);
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
      const older = await pageCursor(raw.older);
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
        const shown = await usersPage(state, older, { form, why });
        return reply.code(status).type('text/html').send(shown.text);
      };
      if (!(CONSOLE_ROLES as readonly string[]).includes(form.role))
        return refuse(400, [
          { field: 'role', text: `“${USER_LABELS.role}” must be ${eitherOf(CONSOLE_ROLES)}.` },
        ]);
      const units = await unitsOfForm(form.units);
      if ('problems' in units)
        return refuse(
          400,
          units.problems.map((text) => ({ field: 'units', text })),
        );
      const { unitIds } = units;
      let user: ConsoleUser;
      try {
        user = await deps.accounts.createUser(state.actor, {
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
      // The first page, which says the user was created, where the user is the newest.
      return reply.redirect(`/console/users${qs({ created: user.id })}`, 303);
    },
  );
}
