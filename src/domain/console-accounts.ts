import {
  type ConsoleRole,
  type ConsoleSession,
  type ConsoleUser,
  decoyHash,
  hashPassword,
  hashSessionToken,
  LOCK_AFTER_FAILURES,
  LOCK_MS,
  newCsrfToken,
  newSessionToken,
  normalizeEmail,
  SESSION_IDLE_MS,
  SESSION_MAX_MS,
  sessionAlive,
  userProblems,
  verifyPassword,
} from './console-users.ts';
import { newId } from './ids.ts';
import type { AuditAction, AuditEvent } from './operations/audit.ts';
import { OperationsError } from './operations/errors.ts';
import type { Actor } from './operations/scope.ts';
import type { ConsoleUserStore } from './ports/console-user-store.ts';

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
  | { kind: 'locked'; until: number };

/** Sessions are refreshed in the store at most this often (not on every request). */
const TOUCH_EVERY_MS = 60_000;

/** How many unknown addresses' failed sign-ins one process remembers. */
const UNKNOWN_ADDRESSES_KEPT = 10_000;

/**
 * Console users and sessions: creating users (console, CLI, first start), signing in with
 * lock-out, finding the user behind a cookie, signing out here or everywhere.
 */
export class ConsoleAccounts {
  private readonly clock: () => number;
  /**
   * Failed sign-ins of addresses that have no user, counted as a user's are, so that the
   * lock-out does not tell which addresses exist (a user locks after LOCK_AFTER_FAILURES, an
   * unknown address must too). Kept in this process only, at most UNKNOWN_ADDRESSES_KEPT.
   */
  private readonly unknownFailures = new Map<string, { failures: number; lockedUntil: number }>();

  constructor(
    private readonly store: ConsoleUserStore,
    private readonly record: (
      actor: Actor,
      action: AuditAction,
      fields: Partial<Pick<AuditEvent, 'unitId' | 'target'>>,
    ) => Promise<void>,
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
    if (!(await this.store.createUser(user, null))) {
      throw new OperationsError('exists', `a user with the address ${email} already exists`);
    }
    await this.record(actor, 'user.create', { target: user.id });
    const { passwordHash: _, ...rest } = user;
    return { ...rest, failedSignIns: 0, lockedUntil: null };
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

  listUsers(): Promise<ConsoleUser[]> {
    return this.store.listUsers();
  }

  /**
   * Every attempt is counted before its password is checked, and a good password forgives the
   * count. So guesses sent all at once get LOCK_AFTER_FAILURES checks, as guesses one by one do:
   * the rest find the user locked and are refused without a check.
   */
  async signIn(email: string, password: string): Promise<SignInResult> {
    const user = await this.store.findUserByEmail(normalizeEmail(email));
    if (!user) return this.refuseUnknown(normalizeEmail(email), password);
    const now = this.clock();
    if (user.lockedUntil !== null && user.lockedUntil > now) {
      return { kind: 'locked', until: user.lockedUntil };
    }
    const attempt = await this.store.countSignInAttempt(
      user.id,
      now,
      LOCK_AFTER_FAILURES,
      now + LOCK_MS,
    );
    if (!attempt) {
      // Locked by attempts sent at the same time as this one (unless a right one has cleared
      // the lock since: then this attempt, which was not checked, is refused as a wrong one).
      const until = (await this.store.findUserByEmail(normalizeEmail(email)))?.lockedUntil;
      return until != null && until > now ? { kind: 'locked', until } : { kind: 'refused' };
    }
    if (!(await verifyPassword(password, user.passwordHash))) {
      return attempt.lockedUntil !== null
        ? { kind: 'locked', until: attempt.lockedUntil }
        : { kind: 'refused' };
    }
    await this.store.clearFailedSignIns(user.id);
    const { token, hash } = newSessionToken();
    const session: ConsoleSession = {
      hash,
      userId: user.id,
      csrfToken: newCsrfToken(),
      createdAt: now,
      lastSeenAt: now,
      unitId: user.unitIds?.[0] ?? null,
    };
    await this.store.insertSession(session);
    const { passwordHash: _, ...plain } = user;
    return { kind: 'signed_in', token, session, user: { ...plain, failedSignIns: 0 } };
  }

  /**
   * What a user's wrong password would answer, as slowly: refused, then locked from the fifth
   * attempt on (counted before the decoy check, as a user's attempts are).
   */
  private async refuseUnknown(email: string, password: string): Promise<SignInResult> {
    const now = this.clock();
    const seen = this.unknownFailures.get(email) ?? { failures: 0, lockedUntil: 0 };
    if (seen.lockedUntil > now) return { kind: 'locked', until: seen.lockedUntil };
    // Re-inserted, so the Map's first entry is the one failed longest ago.
    this.unknownFailures.delete(email);
    if (this.unknownFailures.size >= UNKNOWN_ADDRESSES_KEPT) {
      const oldest = this.unknownFailures.keys().next().value;
      if (oldest !== undefined) this.unknownFailures.delete(oldest);
    }
    const failures = seen.failures + 1;
    const lockedUntil = failures >= LOCK_AFTER_FAILURES ? now + LOCK_MS : 0;
    // A lock starts the count again, as a user's does.
    this.unknownFailures.set(email, { failures: lockedUntil > 0 ? 0 : failures, lockedUntil });
    // As slow as a real check, so the time does not tell which addresses exist.
    await verifyPassword(password, await decoyHash());
    return lockedUntil > 0 ? { kind: 'locked', until: lockedUntil } : { kind: 'refused' };
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
    if (!user) return null;
    if (now - session.lastSeenAt > TOUCH_EVERY_MS) {
      await this.store.touchSession(hash, now);
      session.lastSeenAt = now;
    }
    return { session, user };
  }

  async switchUnit(session: ConsoleSession, user: ConsoleUser, unitId: string): Promise<boolean> {
    if (user.unitIds !== null && !user.unitIds.includes(unitId)) return false;
    await this.store.touchSession(session.hash, this.clock(), unitId);
    return true;
  }

  signOut(session: ConsoleSession): Promise<void> {
    return this.store.deleteSession(session.hash);
  }

  async signOutEverywhere(actor: Actor, user: ConsoleUser): Promise<number> {
    const ended = await this.store.deleteUserSessions(user.id);
    await this.record(actor, 'user.sign_out_everywhere', { target: user.id });
    return ended;
  }

  prune(): Promise<number> {
    const now = this.clock();
    return this.store.pruneSessions(now - SESSION_IDLE_MS, now - SESSION_MAX_MS);
  }
}
