import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  type ConsoleSession,
  type ConsoleUser,
  type Permission,
  roleAllows,
} from '../domain/console-users.ts';
import { type Actor, ALL_UNITS, type Scope, unitScope } from '../domain/operations/scope.ts';
import type { Unit } from '../domain/operations/units.ts';
import type { ConsoleDeps } from './deps.ts';

/** Who is behind a console request, and what they see. */
export interface ConsoleRequestState {
  user: ConsoleUser;
  session: ConsoleSession;
  scope: Scope;
  /** The unit shown (a user limited to units); null: every unit. */
  unitId: string | null;
  /** The units the user may switch between (empty for every unit). */
  units: Unit[];
  actor: Actor;
  /** The search (`q`) of the page asked for, kept when the user switches units; '' without. */
  search: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    consoleState: ConsoleRequestState | null;
  }
  interface FastifyContextConfig {
    /** What a console route needs; `public`: no session (sign-in, static files). */
    permission?: Permission | 'public';
    /** Form fields this route takes more than once (a multiple select); any other comes once. */
    lists?: readonly string[];
    /**
     * What the route manages spans every unit (API keys, units, users, a provider probe): only
     * a user of every unit may use it, whatever its role.
     */
    everyUnit?: boolean;
  }
}

/**
 * The session cookie's name over plain HTTP on a loopback address (see cookieSecure). Everywhere
 * else it is SECURE_COOKIE: a `__Host-` cookie is taken by browsers only from this host itself,
 * over HTTPS, for the whole site (`Path=/`, no `Domain`). A page of a sibling host
 * (other.example.jp setting a cookie for .example.jp) or anyone between a browser and a plain
 * HTTP page of the domain could otherwise plant a `tegami_console` cookie of their own session,
 * with a more specific path that browsers send first, and have a visitor work in their account.
 */
export const COOKIE = 'tegami_console';
export const SECURE_COOKIE = '__Host-tegami_console';

/** The session token a request carries, under the name its kind of connection uses. */
export function sessionToken(request: FastifyRequest, secureCookies: boolean): string {
  const secure = cookieSecure(request, secureCookies);
  return readCookie(request.headers.cookie, secure ? SECURE_COOKIE : COOKIE);
}

/** A refusal the console shows as a page (or JSON for scripts). */
export class ConsoleError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function readCookie(header: string | undefined, name: string): string {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return '';
}

export function sessionCookie(token: string, secure: boolean, maxAgeS: number): string {
  return [
    secure ? `${SECURE_COOKIE}=${token}` : `${COOKIE}=${token}`,
    secure ? 'Path=/' : 'Path=/console',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAgeS}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

/**
 * Whether the cookie gets `Secure`: always, unless turned off, except for a console opened over
 * plain HTTP at a loopback address (`npm start`, then http://127.0.0.1:4025/console), where
 * nothing crosses a network and some browsers would drop a `Secure` cookie. A TLS proxy that
 * says so (`X-Forwarded-Proto: https`) gets `Secure` whatever Host it forwards: trusting that
 * header can only make the cookie stricter.
 */
export function cookieSecure(request: FastifyRequest, configured: boolean): boolean {
  if (!configured) return false;
  if (/^\s*https\s*(,|$)/i.test(String(request.headers['x-forwarded-proto'] ?? ''))) return true;
  const host = (request.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  const loopback = host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
  return !(request.protocol === 'http' && loopback);
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * True when the browser says the request comes from a page of another site: its Fetch Metadata
 * says `cross-site`, or its `Origin` is not this host. An `Origin` that is no URL cannot be this
 * console's own. `nullIsOther`: an `Origin` of `null` counts as another site's too, for the
 * sign-in form, which has no CSRF token: browsers send it for a form that another site's page
 * redirected here (a 307 keeps the POST and its body), and that let another site sign a visitor
 * in to the attacker's account. Elsewhere `null` is let through to the CSRF token: a browser
 * also sends it for the console's own forms under `Referrer-Policy: no-referrer`, which a proxy
 * may add. Without either header (curl, an old browser) the CSRF token, and for signing in the
 * password, decide.
 */
export function fromOtherSite(
  request: FastifyRequest,
  options: { nullIsOther?: boolean } = {},
): boolean {
  const { origin, host } = request.headers;
  if (request.headers['sec-fetch-site'] === 'cross-site') return true;
  if (!origin) return false;
  if (origin === 'null') return options.nullIsOther === true;
  if (!host) return true;
  return !URL.canParse(origin) || new URL(origin).host !== host;
}

const NUL_REFUSED = 'Text must not contain NUL (\\u0000) characters.';

/**
 * The shape every console handler may rely on: the query and the form hold text, one value per
 * field (a field the route lists in `config.lists` may come several times), and a request
 * without a body has an empty form. A repeated field, a JSON body of numbers or lists, or a
 * missing body would otherwise reach a handler's `.trim()` or the SQL as something else and
 * fail as a 500. No text may hold U+0000: PostgreSQL cannot store it, and no field needs it.
 */
export function checkConsoleInput(request: FastifyRequest): void {
  const lists = request.routeOptions.config.lists ?? [];
  const check = (where: 'query' | 'form', fields: unknown) => {
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
      throw new ConsoleError(400, `The ${where} must be a set of named fields.`);
    }
    for (const [name, value] of Object.entries(fields)) {
      const values: unknown[] = Array.isArray(value) && lists.includes(name) ? value : [value];
      for (const item of values) {
        if (typeof item !== 'string') {
          throw new ConsoleError(
            400,
            Array.isArray(item) ? `${name}: give it once.` : `${name}: text expected.`,
          );
        }
        if (item.includes('\u0000') || name.includes('\u0000')) {
          throw new ConsoleError(400, NUL_REFUSED);
        }
      }
    }
  };
  for (const value of Object.values((request.params ?? {}) as Record<string, string>)) {
    if (value.includes('\u0000')) {
      throw new ConsoleError(400, NUL_REFUSED);
    }
  }
  check('query', request.query ?? {});
  if (request.body === undefined || request.body === null) request.body = {};
  check('form', request.body);
}

/**
 * The `preHandler` of every console route: finds the session behind the cookie, checks the
 * route's permission against the user's role, and for every request that changes something the
 * CSRF token (a form's `_csrf` or the `X-CSRF-Token` header) and the Origin. Enforced here, on
 * the server, whatever the page shows.
 */
export function guard(deps: ConsoleDeps) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    request.consoleState = null;
    const permission = request.routeOptions.config.permission ?? 'administer';
    if (permission === 'public') return;
    const found = await deps.accounts.authenticate(sessionToken(request, deps.secureCookies));
    if (!found) {
      if (request.method === 'GET') {
        const next = request.url.startsWith('/console') ? request.url : '/console';
        return reply.redirect(`/console/sign-in?next=${encodeURIComponent(next)}`, 303);
      }
      throw new ConsoleError(401, 'Sign in first.');
    }
    const { user, session } = found;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const body = request.body as Record<string, unknown> | undefined;
      const sent =
        (typeof body?._csrf === 'string' ? body._csrf : '') ||
        String(request.headers['x-csrf-token'] ?? '');
      if (!sameToken(sent, session.csrfToken)) {
        throw new ConsoleError(
          403,
          'The form is out of date or was not sent by this console; reload the page and try again.',
        );
      }
      if (fromOtherSite(request)) {
        throw new ConsoleError(403, 'Requests from other sites are refused.');
      }
    }
    if (!roleAllows(user.role, permission)) {
      throw new ConsoleError(
        403,
        `Your role (${user.role}) may not do this; ${permission === 'operate' ? 'an operator or admin' : 'an admin'} may.`,
      );
    }
    if (request.routeOptions.config.everyUnit && user.unitIds !== null) {
      throw new ConsoleError(
        403,
        'This concerns every unit (API keys, units, users, a provider probe): only an admin of every unit may do it.',
      );
    }
    let scope: Scope = ALL_UNITS;
    let unitId: string | null = null;
    let units: Unit[] = [];
    if (user.unitIds !== null) {
      unitId =
        session.unitId && user.unitIds.includes(session.unitId)
          ? session.unitId
          : (user.unitIds[0] ?? '');
      scope = unitScope(unitId);
      const names = await deps.operations.unitNames(user.unitIds);
      units = user.unitIds.map((id) => ({ id, name: names.get(id) ?? id, createdAt: 0 }));
    }
    const query = request.query as Record<string, unknown> | undefined;
    request.consoleState = {
      user,
      session,
      scope,
      unitId,
      units,
      actor: { type: 'console', id: user.id, name: user.email },
      search: typeof query?.q === 'string' && request.method === 'GET' ? query.q : '',
    };
  };
}

/** The unit a user of some units is looking at; undefined for a user of every unit. */
export function unitIdOf(state: ConsoleRequestState): string | undefined {
  return state.scope.kind === 'unit' ? state.scope.unitId : undefined;
}

/** A query or form as checkConsoleInput lets it through: each field text, given at most once. */
export type Fields = Record<string, string | undefined>;

/** The state of a route that has passed `guard` (every route but the public ones). */
export function stateOf(request: FastifyRequest): ConsoleRequestState {
  if (!request.consoleState) throw new ConsoleError(401, 'Sign in first.');
  return request.consoleState;
}
