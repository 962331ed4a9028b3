import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * People who sign in to the console (src/console/). Every rule about them lives here, so the
 * console, the CLI (`tegami users create`) and the first start (TEGAMI_ADMIN_EMAIL) agree.
 *
 * - admin:    users, API keys, units, status webhook endpoints; everything an operator may do.
 * - operator: recoveries, cancel and retry, suppressions; everything a viewer may do.
 * - viewer:   reads only.
 */
export const CONSOLE_ROLES = ['admin', 'operator', 'viewer'] as const;
export type ConsoleRole = (typeof CONSOLE_ROLES)[number];

/** What a request needs: `read` any page, `operate` change mail, `administer` the deployment. */
export type Permission = 'read' | 'operate' | 'administer';

const GRANTS: Record<ConsoleRole, readonly Permission[]> = {
  admin: ['read', 'operate', 'administer'],
  operator: ['read', 'operate'],
  viewer: ['read'],
};

export function roleAllows(role: ConsoleRole, permission: Permission): boolean {
  return GRANTS[role].includes(permission);
}

export interface ConsoleUser {
  id: string;
  email: string;
  role: ConsoleRole;
  /** The unit ids the user sees; null: every unit. */
  unitIds: string[] | null;
  /** False: metadata only, never a message's text, HTML, raw MIME or attachments. */
  canReadBodies: boolean;
  createdAt: number;
  /** Failed sign-ins since the last good one. */
  failedSignIns: number;
  /** Refused until then from every address after too many failures; null when not locked. */
  lockedUntil: number | null;
  /**
   * The latest lock of one client address out of this user (too many failures from there);
   * null when none was set since the last clean-up. Other addresses may still sign in.
   */
  addressLockedUntil: number | null;
  /**
   * When an admin disabled the user (`tegami users disable`); null: enabled. A disabled user's
   * sign-ins are refused as wrong passwords are, and none of its sessions is accepted.
   */
  disabledAt: number | null;
}

/** The user's lock at `now`, if any: for everyone, else for the addresses that failed. */
export function lockOf(
  user: Pick<ConsoleUser, 'lockedUntil' | 'addressLockedUntil'>,
  now: number,
): { scope: 'account' | 'client'; until: number } | null {
  if (user.lockedUntil !== null && user.lockedUntil > now) {
    return { scope: 'account', until: user.lockedUntil };
  }
  if (user.addressLockedUntil !== null && user.addressLockedUntil > now) {
    return { scope: 'client', until: user.addressLockedUntil };
  }
  return null;
}

/**
 * Whether `user` may be disabled while `otherEnabledAdmins` stay enabled, so that there is always
 * an admin left to undo it in the console: anyone but an enabled admin may be; an admin of some
 * units while another admin is enabled; an admin of every unit only while another admin of every
 * unit is (only such an admin manages users, API keys and units in the console).
 */
export function mayDisable(user: ConsoleUser, otherEnabledAdmins: ConsoleUser[]): boolean {
  if (user.role !== 'admin' || user.disabledAt !== null) return true;
  return otherEnabledAdmins.some((admin) => admin.unitIds === null || user.unitIds !== null);
}

/**
 * Failures in a row from one client address that lock that address out of an account, and for
 * how long. A lock keeps out the address the guesses came from, not the account's owner
 * elsewhere: anyone who knows an address could otherwise lock its owner out at will.
 */
export const LOCK_AFTER_FAILURES = 5;
export const LOCK_MS = 15 * 60_000;

/**
 * Client addresses with a failed sign-in within LOCK_MS that lock an account for everyone
 * (guessing spread over many addresses), for LOCK_MS. One address can never reach it however
 * long it keeps guessing; IPv6 addresses count by their /64 (clientAddressKey), since one
 * client commonly holds a whole /64.
 */
export const ACCOUNT_LOCK_ADDRESSES = 10;

/** The address a sign-in is counted under: IPv4 as it is, IPv6 by its /64 prefix. */
export function clientAddressKey(ip: string): string {
  const address = ip.split('%')[0] ?? ip;
  if (!address.includes(':')) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  const [head = '', tail] = address.split('::');
  const first = head === '' ? [] : head.split(':');
  const last = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? first
      : [
          ...first,
          ...Array<string>(Math.max(0, 8 - first.length - last.length)).fill('0'),
          ...last,
        ];
  const prefix = groups.slice(0, 4).map((g) => (Number.parseInt(g, 16) || 0).toString(16));
  return `${prefix.join(':')}::/64`;
}

/** A session ends this long after its last use, and at the latest this long after sign-in. */
export const SESSION_IDLE_MS = 12 * 3600_000;
export const SESSION_MAX_MS = 7 * 24 * 3600_000;

export const MIN_PASSWORD_LENGTH = 12;

/**
 * A user's e-mail address is the name they sign in with, never mailed: `ops@localhost` will do.
 * No spaces, control characters or angle brackets, which no address needs.
 */
const SIGN_IN_ADDRESS = /^[^\s@<>\p{Cc}]{1,64}@[^\s@<>\p{Cc}]{1,255}$/u;

/** Why an e-mail address or password cannot be used for a user; empty when they can. */
export function userProblems(
  email: string,
  password: string,
): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  if (!SIGN_IN_ADDRESS.test(email))
    problems.push({ field: 'email', message: 'must be an e-mail address' });
  return [...problems, ...passwordProblems(password)];
}

/** Why a password cannot be used (a new user's, or a new one set later); empty when it can. */
export function passwordProblems(password: string): { field: string; message: string }[] {
  if (password.length >= MIN_PASSWORD_LENGTH && password.length <= 1024) return [];
  return [{ field: 'password', message: `must be ${MIN_PASSWORD_LENGTH} to 1024 characters` }];
}

/** Addresses compare without case: `Ops@Example.jp` signs in as `ops@example.jp`. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

// scrypt with N=2^15, r=8, p=1 (about 32 MiB and 50-100 ms a try): slow enough that a stolen
// table is costly to guess through, fast enough for a sign-in page.
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, SCRYPT, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/** `scrypt$N$r$p$salt$hash`, base64url: the parameters travel with the hash. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [tag, n, r, p, salt, hash] = stored.split('$');
  if (tag !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await new Promise<Buffer>((resolve, reject) => {
    scrypt(
      password.normalize('NFC'),
      Buffer.from(salt, 'base64url'),
      expected.length,
      { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem },
      (error, derived) => (error ? reject(error) : resolve(derived)),
    );
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash to check unknown addresses against, so they take as long as known ones. */
let decoy: Promise<string> | null = null;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  return decoy;
}

/** A session token (given to the browser) and what is stored of it (its SHA-256). */
export function newSessionToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashSessionToken(token) };
}

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function newCsrfToken(): string {
  return randomBytes(24).toString('base64url');
}

export interface ConsoleSession {
  /** SHA-256 of the token. */
  hash: string;
  userId: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
  /** For a user limited to several units: the one the console shows now. */
  unitId: string | null;
}

/** Whether a session may still be used at `now`. */
export function sessionAlive(session: ConsoleSession, now: number): boolean {
  return now - session.lastSeenAt < SESSION_IDLE_MS && now - session.createdAt < SESSION_MAX_MS;
}
