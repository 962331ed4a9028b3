import type { FastifyInstance } from 'fastify';
import { SESSION_MAX_MS } from '../../domain/console-users.ts';
import { count } from '../../domain/count-words.ts';
import type { LockScope } from '../../domain/ports/console-user-store.ts';
import { backPath } from '../back.ts';
import type { ConsoleDeps } from '../deps.ts';
import { clockTime, type Html, html } from '../html.ts';
import { csrf, page } from '../layout.ts';
import { ConsoleError, cookieSecure, fromOtherSite, sessionCookie, stateOf } from '../session.ts';

/**
 * Only a path inside the console: `next` must not send anyone elsewhere after signing in. It
 * becomes the `Location` header, so it is taken as the "Back" links' paths are (backPath: visible
 * ASCII, normalised, so `/console/../v1/messages` is not a console path); anything else leads to
 * the overview.
 */
function safeNext(next: unknown): string {
  return backPath(next) ?? '/console';
}

/**
 * Password checks (scrypt: ~80 ms of CPU and 32 MiB each, on libuv's pool of four threads, which
 * also runs the WAL's fsyncs) run one at a time. At most SIGN_INS_WAITING_PER_CLIENT attempts of
 * one client address wait for their turn, and SIGN_INS_WAITING in all; beyond that an attempt is
 * answered 429 at once. Unauthenticated attempts for made-up addresses (each checked against a
 * decoy, so that the time tells nothing) otherwise took every pool thread: a flood of them made
 * submissions wait up to 1.6 s. The limit per client keeps one client's flood from turning
 * everyone else away.
 */
const SIGN_INS_AT_ONCE = 1;
const SIGN_INS_WAITING = 64;
const SIGN_INS_WAITING_PER_CLIENT = 4;

class SignInTurns {
  private running = 0;
  private readonly waiting: { client: string; go: () => void }[] = [];
  private readonly waitingBy = new Map<string, number>();

  /** Runs `check` in its turn, or returns null at once when too many are waiting. */
  async take<T>(client: string, check: () => Promise<T>): Promise<T | null> {
    if (this.running >= SIGN_INS_AT_ONCE) {
      const mine = this.waitingBy.get(client) ?? 0;
      if (this.waiting.length >= SIGN_INS_WAITING || mine >= SIGN_INS_WAITING_PER_CLIENT) {
        return null;
      }
      this.waitingBy.set(client, mine + 1);
      await new Promise<void>((go) => this.waiting.push({ client, go }));
    } else {
      this.running += 1;
    }
    try {
      return await check();
    } finally {
      // The turn passes straight to the next in line, or is given back.
      const next = this.waiting.shift();
      if (next) {
        const left = (this.waitingBy.get(next.client) ?? 1) - 1;
        if (left > 0) this.waitingBy.set(next.client, left);
        else this.waitingBy.delete(next.client);
        next.go();
      } else {
        this.running -= 1;
      }
    }
  }
}

/**
 * A lock, in words a person reads: how long it still holds and when it ends, to the minute
 * (rounded up: trying at the minute said is never too early), in the viewer's time zone.
 */
function lockedMessage(scope: LockScope, until: number, now: number): Html {
  const minutes = Math.max(1, Math.ceil((until - now) / 60_000));
  const ends = clockTime(Math.ceil(until / 60_000) * 60_000);
  return scope === 'client'
    ? html`Too many failed sign-ins from your address: this account is locked for sign-ins from here. Try again in ${count(minutes, 'minute')} (at ${ends}).`
    : html`Too many failed sign-ins: this account is locked. Try again in ${count(minutes, 'minute')} (at ${ends}).`;
}

/**
 * What a newcomer who started Tegami without TEGAMI_ADMIN_EMAIL finds instead of a form that
 * only ever answers "Wrong e-mail address or password".
 */
const NO_USER_YET = html`<div class="card notice narrow" role="status" id="no-console-user"><p><strong>No console user exists yet.</strong> Make the first admin on the server: start Tegami with <code>TEGAMI_ADMIN_EMAIL</code> and <code>TEGAMI_ADMIN_PASSWORD</code>, or run <code>tegami users create --email E --role admin</code> (it reads the password from standard input).</p></div>`;

function signInPage(next: string, message: Html | string | null, email = '', noUserYet = false) {
  return page(
    'Sign in',
    null,
    html`${noUserYet ? NO_USER_YET : ''}<form method="post" action="/console/sign-in" class="card narrow">
  ${message ? html`<p class="error" role="alert">${message}</p>` : ''}
  <input type="hidden" name="next" value="${next}">
  <label>E-mail <input type="email" name="email" value="${email}" required autocomplete="username" autofocus></label>
  <label>Password <input type="password" name="password" required autocomplete="current-password"></label>
  <button type="submit">Sign in</button>
</form>`,
  );
}

export function registerSignIn(app: FastifyInstance, deps: ConsoleDeps): void {
  const turns = new SignInTurns();
  /**
   * Whether to say that no console user exists yet. A database that cannot be read says nothing
   * here: the form is still shown, and signing in then says what is wrong.
   */
  const noUserYet = () =>
    deps.accounts.anyUsers().then(
      (any) => !any,
      () => false,
    );
  app.get('/console/sign-in', { config: { permission: 'public' } }, async (request, reply) => {
    const { next } = request.query as { next?: string };
    return reply
      .type('text/html')
      .send(signInPage(safeNext(next), null, '', await noUserYet()).text);
  });

  app.post('/console/sign-in', { config: { permission: 'public' } }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const email = typeof body.email === 'string' ? body.email.slice(0, 320) : '';
    const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
    const next = safeNext(body.next);
    // A cross-site form cannot sign someone in to the attacker's account (login CSRF).
    if (fromOtherSite(request, { nullIsOther: true })) {
      throw new ConsoleError(403, 'Requests from other sites are refused.');
    }
    const result = await turns.take(request.ip, () =>
      deps.accounts.signIn(email, password, request.ip),
    );
    if (result === null) {
      return reply
        .code(429)
        .header('retry-after', '5')
        .type('text/html')
        .send(
          signInPage(next, 'Too many sign-ins at once: try again in a few seconds.', email).text,
        );
    }
    if (result.kind === 'signed_in') {
      const secure = cookieSecure(request, deps.secureCookies);
      const cookie = sessionCookie(result.token, secure, Math.floor(SESSION_MAX_MS / 1000));
      // Over HTTPS, a plain-named cookie from before the `__Host-` one is ended: it is not read
      // there, and its session should not outlive the browser's next sign-in.
      reply.header('set-cookie', secure ? [cookie, sessionCookie('', false, 0)] : cookie);
      return reply.redirect(next, 303);
    }
    const message =
      result.kind === 'locked'
        ? lockedMessage(result.scope, result.until, (deps.clock ?? Date.now)())
        : 'Wrong e-mail address or password.';
    return reply
      .code(result.kind === 'locked' ? 429 : 401)
      .type('text/html')
      .send(signInPage(next, message, email, await noUserYet()).text);
  });

  app.post('/console/sign-out', { config: { permission: 'read' } }, async (request, reply) => {
    await deps.accounts.signOut(stateOf(request).session);
    reply.header('set-cookie', sessionCookie('', cookieSecure(request, deps.secureCookies), 0));
    return reply.redirect('/console/sign-in', 303);
  });

  app.post(
    '/console/sign-out-everywhere',
    { config: { permission: 'read' } },
    async (request, reply) => {
      const state = stateOf(request);
      await deps.accounts.signOutEverywhere(state.actor, state.user);
      reply.header('set-cookie', sessionCookie('', cookieSecure(request, deps.secureCookies), 0));
      return reply.redirect('/console/sign-in', 303);
    },
  );

  app.post('/console/unit', { config: { permission: 'read' } }, async (request, reply) => {
    const state = stateOf(request);
    const unit = String((request.body as Record<string, unknown>)?.unit ?? '');
    if (!(await deps.accounts.switchUnit(state.session, state.user, unit))) {
      throw new ConsoleError(404, 'No such unit.');
    }
    // Back to the section it was switched on (the unsent view stays the unsent view).
    return reply.redirect(safeNext((request.body as Record<string, unknown>)?.next), 303);
  });

  app.get('/console/account', { config: { permission: 'read' } }, async (request, reply) => {
    const state = stateOf(request);
    return reply.type('text/html').send(
      page(
        'Your account',
        state,
        html`<dl class="fields"><dt>E-mail</dt><dd>${state.user.email}</dd><dt>Role</dt><dd>${state.user.role}</dd>
<dt>Message bodies</dt><dd>${state.user.canReadBodies ? 'shown' : 'hidden (metadata only)'}</dd></dl>
<form method="post" action="/console/sign-out-everywhere">${csrf(state)}
<button type="submit">Sign out everywhere</button> <span class="muted">ends every session of this account, on every device</span></form>`,
      ).text,
    );
  });
}
