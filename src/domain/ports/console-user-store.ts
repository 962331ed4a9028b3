import type { ConsoleRole, ConsoleSession, ConsoleUser } from '../console-users.ts';
import type { AuditEvent } from '../operations/audit-event.ts';

export interface NewConsoleUser {
  id: string;
  email: string;
  passwordHash: string;
  role: ConsoleRole;
  unitIds: string[] | null;
  canReadBodies: boolean;
  createdAt: number;
}

/**
 * Whom a sign-in lock keeps out: the client address the failures came from (`client`), or
 * everyone (`account`: failures from many addresses).
 */
export type LockScope = 'client' | 'account';

/** The limits a sign-in attempt is counted against (domain/console-users.ts). */
export interface LockRules {
  /** Failures in a row from one client address that lock that address out of the user. */
  perClient: number;
  /** Client addresses failing within `forgetAfterMs` that lock the user for everyone. */
  addressesToLockAccount: number;
  /** When a lock this attempt sets ends. */
  lockUntil: number;
  /**
   * A client address's count starts again after this long without a failure, and an address
   * counts towards `addressesToLockAccount` for this long after its last failure.
   */
  forgetAfterMs: number;
}

/**
 * A sign-in attempt: `counted` false when a lock was already there (nothing counted, the
 * password must not be checked); `lock` is that lock, or the one this attempt set.
 */
export interface SignInAttempt {
  counted: boolean;
  lock: { scope: LockScope; until: number } | null;
}

/**
 * A user as a sign-in reads it before checking the password: with the hash it checks, and how
 * many times every session of the user was ended at once (`signOuts`). The session is inserted
 * only while both are still what was read (`insertSession`).
 */
export type ConsoleUserToCheck = ConsoleUser & { passwordHash: string; signOuts: number };

/** What disabling a user did (ConsoleUserStore.disableUser). */
export type DisableOutcome =
  | { kind: 'disabled'; sessionsEnded: number }
  | { kind: 'already_disabled' }
  /** Refused: the enabled admins left would not be enough (see `allowed`). */
  | { kind: 'last_admin' }
  | { kind: 'not_found' };

/** A page of console users, newest first: `limit` of them, those created before `beforeId`. */
export interface ConsoleUserPage {
  limit: number;
  beforeId?: string;
}

/** Console users and their server-side sessions (src/store/console/). */
export interface ConsoleUserStore {
  /** False when the address is taken. Records `audit` in the same transaction. */
  createUser(user: NewConsoleUser, audit: AuditEvent | null): Promise<boolean>;
  findUserByEmail(email: string): Promise<ConsoleUserToCheck | null>;
  findUser(id: string): Promise<ConsoleUser | null>;
  /** A page of users, newest first (by id, as API keys are paged). */
  listUserPage(page: ConsoleUserPage): Promise<ConsoleUser[]>;
  countUsers(): Promise<number>;
  /**
   * Counts a sign-in attempt from `client` before its password is checked, against `rules`
   * (see SignInAttempt). `null`: no such user.
   */
  countSignInAttempt(
    id: string,
    client: string,
    now: number,
    rules: LockRules,
  ): Promise<SignInAttempt | null>;
  /** A good sign-in from `client`: the user's count and that address's are cleared. */
  clearSignInFailures(id: string, client: string): Promise<void>;
  /**
   * Every count and lock of the user, from every address, with `audit` in the same transaction;
   * false, and nothing recorded, when there was none.
   */
  unlockUser(id: string, audit: AuditEvent): Promise<boolean>;
  /** Removes counts with no failure since `before` and no lock left at `now`. */
  pruneSignInFailures(before: number, now: number): Promise<number>;
  /**
   * A new password hash, with the counts and locks cleared (every address's), every session of
   * the user ended and `audit` of it (given how many) written, in one transaction. Returns how
   * many sessions ended; null: no such user, and nothing recorded.
   */
  setPassword(
    id: string,
    passwordHash: string,
    audit: (sessionsEnded: number) => AuditEvent,
  ): Promise<number | null>;
  /**
   * Disables the user at `at` and ends its sessions, with `audit` of it (given how many ended),
   * in one transaction, if `allowed` (given the user and the other enabled admins, read under
   * lock) says so. Nothing is recorded when nothing changed.
   */
  disableUser(
    id: string,
    at: number,
    allowed: (user: ConsoleUser, otherEnabledAdmins: ConsoleUser[]) => boolean,
    audit: (sessionsEnded: number) => AuditEvent,
  ): Promise<DisableOutcome>;
  /**
   * Enables the user, with `audit` in the same transaction; false, and nothing recorded, when the
   * user was not disabled.
   */
  enableUser(id: string, audit: AuditEvent): Promise<boolean>;
  /**
   * Inserts the session only while its user is enabled, still has `checked.passwordHash` (the
   * one the sign-in checked) and has not had its sessions ended since (`checked.signOuts`);
   * false when not, so a change made during the check is not outlived.
   */
  insertSession(
    session: ConsoleSession,
    checked: Pick<ConsoleUserToCheck, 'passwordHash' | 'signOuts'>,
  ): Promise<boolean>;
  findSession(hash: string): Promise<ConsoleSession | null>;
  /** Marks the session used at `now` and, when given, switches its unit. */
  touchSession(hash: string, now: number, unitId?: string | null): Promise<void>;
  deleteSession(hash: string): Promise<void>;
  /**
   * Sign-out everywhere: ends every session of the user and counts one more sign-out, with
   * `audit` of it (given how many ended), in one transaction, so a sign-in under way gets no
   * session either. Returns how many ended.
   */
  deleteUserSessions(userId: string, audit: (sessionsEnded: number) => AuditEvent): Promise<number>;
  /** Removes sessions unused since `idleBefore` or started before `startedBefore`. */
  pruneSessions(idleBefore: number, startedBefore: number): Promise<number>;
}
