import {
  ACCOUNT_LOCK_ADDRESSES,
  type ConsoleRole,
  type ConsoleSession,
  type ConsoleUser,
  clientAddressKey,
  decoyHash,
  hashPassword,
  hashSessionToken,
  LOCK_AFTER_FAILURES,
  LOCK_MS,
  mayDisable,
  newCsrfToken,
  newSessionToken,
  normalizeEmail,
  passwordProblems,
  SESSION_IDLE_MS,
  SESSION_MAX_MS,
  sessionAlive,
  userProblems,
  verifyPassword,
} from './console-users.ts';
import { newId } from './ids.ts';
import { type AuditAction, type AuditEvent, newAuditEvent } from './operations/audit-event.ts';
import { OperationsError } from './operations/errors.ts';
import type { Actor } from './operations/scope.ts';
import type {
  ConsoleUserPage,
  ConsoleUserStore,
  LockRules,
  LockScope,
} from './ports/console-user-store.ts';

/**
 * The normalized address of a new user, or an `invalid` error naming what is wrong with the
 * address or password (`tegami users create` asks before it opens the database).
 */
export function checkNewUser(email: string, password: string): string {
  const normalized = normalizeEmail(email);
  const problems = userProblems(normalized, password);
  if (problems.length > 0) {
    throw new OperationsError('invalid', 'the user is invalid; see details', problems);
  }
  return normalized;
}

/** An `invalid` error naming what is wrong with a new password (checked before any change). */
export function checkNewPassword(password: string): void {
  const problems = passwordProblems(password);
  if (problems.length > 0) {
    throw new OperationsError('invalid', 'the password is invalid; see details', problems);
  }
}

export interface NewUserInput {
  email: string;
  password: string;
  role: ConsoleRole;
  unitIds: string[] | null;
  canReadBodies: boolean;
}

export type SignInResult =
  | { kind: 'signed_in'; token: string; session: ConsoleSession; user: ConsoleUser }
  /** Wrong address or password: the answer does not say which. */
  | { kind: 'refused' }
  /** Too many failures: from this client address (`client`), or from many (`account`). */
  | { kind: 'locked'; until: number; scope: LockScope };

/** Sessions are refreshed in the store at most this often (not on every request). */
const TOUCH_EVERY_MS = 60_000;

/** How many unknown addresses' failed sign-ins one process remembers (and as many per client). */
const UNKNOWN_ADDRESSES_KEPT = 10_000;

/** A count of failures in a row, and the lock it set (0: none). */
interface FailureCount {
  failures: number;
  lockedUntil: number;
  lastFailedAt: number;
}

/**
 * Counts of failed sign-ins in this process's memory, the oldest forgotten first beyond
 * `kept`: for addresses that have no user, which must lock as users do.
 */
class FailureCounts {
  private readonly counts = new Map<string, FailureCount>();

  constructor(private readonly kept: number) {}

  /** The lock on `key` at `now`, if any. */
  lockedUntil(key: string, now: number): number | null {
    const seen = this.counts.get(key);
    return seen && seen.lockedUntil > now ? seen.lockedUntil : null;
  }

  /** Counts one failure; returns the lock it sets (0: none). */
  count(key: string, now: number, lockAfter: number, forgetAfterMs: number): number {
    const seen = this.counts.get(key);
    const fresh = seen !== undefined && seen.lastFailedAt > now - forgetAfterMs;
    // Re-inserted, so the Map's first entry is the one failed longest ago.
    this.counts.delete(key);
    if (this.counts.size >= this.kept) {
      const oldest = this.counts.keys().next().value;
      if (oldest !== undefined) this.counts.delete(oldest);
    }
    const failures = (fresh ? seen.failures : 0) + 1;
    const lockedUntil = failures >= lockAfter ? now + LOCK_MS : 0;
    // A lock starts the count again, as a user's does.
    this.counts.set(key, {
      failures: lockedUntil > 0 ? 0 : failures,
      lockedUntil,
      lastFailedAt: now,
    });
    return lockedUntil;
  }

  /** How many keys ending in `suffix` failed after `since` (distinct addresses of one email). */
  countFailedSince(suffix: string, since: number): number {
    let n = 0;
    for (const [key, seen] of this.counts) {
      if (seen.lastFailedAt > since && key.endsWith(suffix)) n++;
    }
    return n;
  }
}

/**
 * Console users and sessions: creating users (console, CLI, first start), signing in with
 * lock-out, finding the user behind a cookie, signing out here or everywhere; and what an admin
 * does when a password leaks or someone leaves (`tegami users`): unlock, set a new password,
 * disable and enable, end every session.
 */
export class ConsoleAccounts {
  private readonly clock: () => number;
  /**
   * Failed sign-ins of addresses that have no user, counted as a user's are (per client address,
   * and the addresses that failed recently), so that the lock-out does not tell which addresses
   * exist. Kept in this process only, at most UNKNOWN_ADDRESSES_KEPT of each.
   */
  private readonly unknownByClient = new FailureCounts(UNKNOWN_ADDRESSES_KEPT);
  private readonly unknownAccountLocks = new FailureCounts(UNKNOWN_ADDRESSES_KEPT);

  constructor(
    private readonly store: ConsoleUserStore,
    clock?: () => number,
  ) {
    this.clock = clock ?? Date.now;
  }

  async createUser(actor: Actor, input: NewUserInput): Promise<ConsoleUser> {
    const email = checkNewUser(input.email, input.password);
    const user = {
      id: newId('usr'),
      email,
      passwordHash: await hashPassword(input.password),
      role: input.role,
      unitIds: input.unitIds,
      canReadBodies: input.canReadBodies,
      createdAt: this.clock(),
    };
    // Its event in the same transaction: a user made without one would be nobody's doing.
    const audit = newAuditEvent(actor, 'user.create', { target: user.id }, user.createdAt);
    if (!(await this.store.createUser(user, audit))) {
      throw new OperationsError('exists', `a user with the address ${email} already exists`);
    }
    const { passwordHash: _, ...rest } = user;
    return {
      ...rest,
      failedSignIns: 0,
      lockedUntil: null,
      addressLockedUntil: null,
      disabledAt: null,
    };
  }

  /** The first admin from TEGAMI_ADMIN_EMAIL/PASSWORD: created once, left alone afterwards. */
  async ensureAdmin(actor: Actor, email: string, password: string): Promise<boolean> {
    if (await this.store.findUserByEmail(normalizeEmail(email))) return false;
    try {
      await this.createUser(actor, {
        email,
        password,
        role: 'admin',
        unitIds: null,
        canReadBodies: true,
      });
      return true;
    } catch (error) {
      // Another API process starting at the same time created it first.
      if (error instanceof OperationsError && error.kind === 'exists') return false;
      throw error;
    }
  }

  /** A page of users, newest first: those created before the user `beforeId`. */
  listUserPage(page: ConsoleUserPage): Promise<ConsoleUser[]> {
    return this.store.listUserPage(page);
  }

  /** The user with this id, or null. */
  findUserById(id: string): Promise<ConsoleUser | null> {
    return this.store.findUser(id);
  }

  /**
   * Whether any console user exists. Until one does, nobody can sign in, and the sign-in page
   * says how to make the first (it tells a stranger nothing: no address would sign in anyway).
   */
  async anyUsers(): Promise<boolean> {
    return (await this.store.countUsers()) > 0;
  }

  /** The user with this address (in any case), or null. */
  async findUser(email: string): Promise<ConsoleUser | null> {
    const found = await this.store.findUserByEmail(normalizeEmail(email));
    if (!found) return null;
    const { passwordHash: _, signOuts: __, ...user } = found;
    return user;
  }

  /**
   * Clears the user's failed sign-ins and lock. False, and nothing recorded, when there was
   * nothing to clear.
   */
  unlock(actor: Actor, user: ConsoleUser): Promise<boolean> {
    return this.store.unlockUser(user.id, this.userEvent(actor, 'user.unlock', user));
  }

  /**
   * A new password (the rules of a new user's), which also unlocks the user and ends every one
   * of its sessions: whoever knew the old one may be signed in. Returns how many sessions ended.
   */
  async setPassword(actor: Actor, user: ConsoleUser, password: string): Promise<number> {
    checkNewPassword(password);
    const ended = await this.store.setPassword(
      user.id,
      await hashPassword(password),
      (sessionsEnded) => this.userEvent(actor, 'user.set_password', user, sessionsEnded),
    );
    if (ended === null)
      throw new OperationsError('not_found', `no user has the address ${user.email}`);
    return ended;
  }

  /**
   * Disables the user and ends its sessions: its sign-ins are refused as wrong passwords are, its
   * cookies stop working at once. Refused (`conflict`) for the last admin (mayDisable). Returns
   * how many sessions ended; null, and nothing recorded, when it was disabled already.
   */
  async disable(actor: Actor, user: ConsoleUser): Promise<number | null> {
    const now = this.clock();
    const outcome = await this.store.disableUser(user.id, now, mayDisable, (sessionsEnded) =>
      this.userEvent(actor, 'user.disable', user, sessionsEnded, now),
    );
    switch (outcome.kind) {
      case 'not_found':
        throw new OperationsError('not_found', `no user has the address ${user.email}`);
      case 'last_admin':
        throw new OperationsError(
          'conflict',
          `${user.email} is the last enabled admin${user.unitIds === null ? ' of every unit' : ''}: enable or create another admin first`,
        );
      case 'already_disabled':
        return null;
      case 'disabled':
        return outcome.sessionsEnded;
    }
  }

  /** Lets a disabled user sign in again; false, and nothing recorded, when it was enabled. */
  enable(actor: Actor, user: ConsoleUser): Promise<boolean> {
    return this.store.enableUser(user.id, this.userEvent(actor, 'user.enable', user));
  }

  /**
   * Every attempt is counted before its password is checked, and a good password forgives the
   * count. So guesses sent all at once get LOCK_AFTER_FAILURES checks, as guesses one by one do:
   * the rest find the lock and are refused without a check. `client` is the address the attempt
   * comes from: a lock keeps that address out, so a stranger's guesses do not lock the owner out
   * (only failures from ACCOUNT_LOCK_ADDRESSES addresses within LOCK_MS do).
   */
  async signIn(email: string, password: string, ip: string): Promise<SignInResult> {
    const client = clientAddressKey(ip);
    const user = await this.store.findUserByEmail(normalizeEmail(email));
    if (!user) return this.refuseUnknown(normalizeEmail(email), password, client);
    const now = this.clock();
    const attempt = await this.store.countSignInAttempt(user.id, client, now, this.rules(now));
    // Gone since it was found (deleted users are not a thing yet; counted as a wrong password).
    if (!attempt) return { kind: 'refused' };
    if (!attempt.counted && attempt.lock) {
      return { kind: 'locked', until: attempt.lock.until, scope: attempt.lock.scope };
    }
    const right = await verifyPassword(password, user.passwordHash);
    // A disabled user's password is checked all the same, and a right one refused as a wrong one
    // is (counted, then locked): neither the answer nor its time tells a disabled account apart
    // from a wrong password or an address with no user.
    if (!right || user.disabledAt !== null) {
      return attempt.lock
        ? { kind: 'locked', until: attempt.lock.until, scope: attempt.lock.scope }
        : { kind: 'refused' };
    }
    await this.store.clearSignInFailures(user.id, client);
    const { token, hash } = newSessionToken();
    const session: ConsoleSession = {
      hash,
      userId: user.id,
      csrfToken: newCsrfToken(),
      createdAt: now,
      lastSeenAt: now,
      unitId: user.unitIds?.[0] ?? null,
    };
    // Not inserted if, during the check, the password was changed, the user disabled or every
    // session of the user ended: each of those is meant to end this sign-in too.
    if (!(await this.store.insertSession(session, user))) return { kind: 'refused' };
    const { passwordHash: _, signOuts: __, ...plain } = user;
    return {
      kind: 'signed_in',
      token,
      session,
      user: { ...plain, failedSignIns: 0, lockedUntil: null },
    };
  }

  private rules(now: number): LockRules {
    return {
      perClient: LOCK_AFTER_FAILURES,
      addressesToLockAccount: ACCOUNT_LOCK_ADDRESSES,
      lockUntil: now + LOCK_MS,
      forgetAfterMs: LOCK_MS,
    };
  }

  /**
   * What a user's wrong password would answer, as slowly: refused, then locked from the fifth
   * attempt from one client address on, or for everyone once ACCOUNT_LOCK_ADDRESSES addresses
   * failed within LOCK_MS (counted before the decoy check, as a user's attempts are).
   */
  private async refuseUnknown(
    email: string,
    password: string,
    client: string,
  ): Promise<SignInResult> {
    const now = this.clock();
    const suffix = ` ${email}`;
    const byClient = `${client}${suffix}`;
    const accountLock = this.unknownAccountLocks.lockedUntil(email, now);
    if (accountLock !== null) return { kind: 'locked', until: accountLock, scope: 'account' };
    const clientLock = this.unknownByClient.lockedUntil(byClient, now);
    if (clientLock !== null) return { kind: 'locked', until: clientLock, scope: 'client' };
    const locksClient = this.unknownByClient.count(byClient, now, LOCK_AFTER_FAILURES, LOCK_MS);
    const recent = this.unknownByClient.countFailedSince(suffix, now - LOCK_MS);
    // One "failure" reaching the threshold at once sets the account's lock, as a user's is set.
    const locksAccount =
      recent >= ACCOUNT_LOCK_ADDRESSES ? this.unknownAccountLocks.count(email, now, 1, LOCK_MS) : 0;
    // As slow as a real check, so the time does not tell which addresses exist.
    await verifyPassword(password, await decoyHash());
    if (locksAccount > 0) return { kind: 'locked', until: locksAccount, scope: 'account' };
    if (locksClient > 0) return { kind: 'locked', until: locksClient, scope: 'client' };
    return { kind: 'refused' };
  }

  /** The live session and user behind a cookie's token, or null. */
  async authenticate(
    token: string,
  ): Promise<{ session: ConsoleSession; user: ConsoleUser } | null> {
    if (token === '' || token.length > 100) return null;
    const hash = hashSessionToken(token);
    const session = await this.store.findSession(hash);
    const now = this.clock();
    if (!session) return null;
    if (!sessionAlive(session, now)) {
      await this.store.deleteSession(hash);
      return null;
    }
    const user = await this.store.findUser(session.userId);
    // Disabling ends the sessions too; this holds even for one that slipped past that.
    if (!user || user.disabledAt !== null) return null;
    if (now - session.lastSeenAt > TOUCH_EVERY_MS) {
      await this.store.touchSession(hash, now);
      session.lastSeenAt = now;
    }
    return { session, user };
  }

  /**
   * Shows the session one of its user's units. A user of every unit sees them all at once and has
   * none to switch to: what it sends is refused rather than stored on its session.
   */
  async switchUnit(session: ConsoleSession, user: ConsoleUser, unitId: string): Promise<boolean> {
    if (user.unitIds === null || !user.unitIds.includes(unitId)) return false;
    await this.store.touchSession(session.hash, this.clock(), unitId);
    return true;
  }

  signOut(session: ConsoleSession): Promise<void> {
    return this.store.deleteSession(session.hash);
  }

  /** Ends every session of the user; returns how many. Recorded even when none was open. */
  signOutEverywhere(actor: Actor, user: ConsoleUser): Promise<number> {
    return this.store.deleteUserSessions(user.id, (sessionsEnded) =>
      this.userEvent(actor, 'user.sign_out_everywhere', user, sessionsEnded),
    );
  }

  /**
   * The audit event of an admin's change to `user`, given to the store to write in the change's
   * own transaction (no change without its event); with the sessions it ended, when it ends them.
   */
  private userEvent(
    actor: Actor,
    action: AuditAction,
    user: ConsoleUser,
    sessionsEnded?: number,
    at = this.clock(),
  ): AuditEvent {
    const counts = sessionsEnded === undefined ? {} : { counts: { sessions_ended: sessionsEnded } };
    return newAuditEvent(actor, action, { target: user.id, ...counts }, at);
  }

  /** Removes ended sessions and stale sign-in counts; returns how many sessions ended. */
  async prune(): Promise<number> {
    const now = this.clock();
    await this.store.pruneSignInFailures(now - LOCK_MS, now);
    return this.store.pruneSessions(now - SESSION_IDLE_MS, now - SESSION_MAX_MS);
  }
}
