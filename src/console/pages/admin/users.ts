import type { FastifyInstance } from 'fastify';
import {
  CONSOLE_ROLES,
  type ConsoleRole,
  type ConsoleUser,
  lockOf,
  normalizeEmail,
} from '../../../domain/console-users.ts';
import { OperationsError } from '../../../domain/operations/errors.ts';
import type { ConsoleDeps } from '../../deps.ts';
import { html, qs, time } from '../../html.ts';
import { csrf, page } from '../../layout.ts';
import { invalidIf, type Refusal, refusal, refusalNotice } from '../../refusal.ts';
import { ConsoleError, type ConsoleRequestState, type Fields, stateOf } from '../../session.ts';
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

  /** What the new user's form held when it was refused; the password is never shown back. */
  interface UserForm {
    email: string;
    passwordTyped: boolean;
    role: string;
    units: string[];
    bodies: boolean;
  }

  /**
   * The page: the new user's form, and every user by address. `refused`: the form as typed, with
   * what is wrong said in it. `createdId`: the user just created (the page link's `created`), said
   * above the form by the address the users hold, so a link cannot make the page say anything
   * else; an id naming no user is refused with 400. Users are never deleted, so a link made
   * earlier still works.
   */
  async function usersPage(
    state: ConsoleRequestState,
    refused: { form: UserForm; why: Refusal } | null,
    createdId?: string,
  ) {
    const [users, units] = await Promise.all([
      deps.accounts.listUsers(),
      deps.operations.listUnits(state.scope),
    ]);
    const created = createdId ? users.find((u) => u.id === createdId) : undefined;
    if (createdId && !created) throw new ConsoleError(400, NO_SUCH_USER);
    const names = new Map(units.map((u) => [u.id, u.name]));
    const typed = refused?.form;
    const why = refused?.why ?? null;
    const chosen = typed?.units ?? ['*'];
    // Where the admin's eyes are after "Create user", read out; the address links to the user's
    // row, which may be far down the list. The password is the one the admin typed: never shown.
    const createdNotice = created
      ? html`<div class="card notice" role="status" id="user-created"><p>Created user <a href="#user-${created.id}"><strong>${created.email}</strong></a>.</p></div>`
      : '';
    const body = html`${createdNotice}<form method="post" action="/console/users" class="card inline-form">${csrf(state)}
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
      ) => html`<tr id="user-${u.id}"><td class="wrap">${u.email}</td><td>${u.role}</td><td>${u.unitIds === null ? 'every unit' : u.unitIds.map((id) => names.get(id) ?? id).join(', ')}</td>
<td>${u.canReadBodies ? 'yes' : 'metadata only'}</td><td>${time(u.createdAt)}</td><td>${userState(u, clock())}</td></tr>`,
    )}</tbody></table>`;
    return page('Users', state, body, '/console/users');
  }

  app.get(
    '/console/users',
    { config: { permission: 'administer', everyUnit: true } },
    async (request, reply) => {
      const { created } = request.query as Fields;
      const shown = await usersPage(stateOf(request), null, created);
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
      // The page again, which says the user was created.
      return reply.redirect(`/console/users${qs({ created: user.id })}`, 303);
    },
  );
}
