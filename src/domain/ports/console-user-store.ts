import type { ConsoleRole, ConsoleSession, ConsoleUser } from '../console-users.ts';
import type { AuditEvent } from '../operations/audit.ts';

export interface NewConsoleUser {
  id: string;
  email: string;
  passwordHash: string;
  role: ConsoleRole;
  unitIds: string[] | null;
  canReadBodies: boolean;
  createdAt: number;
}

/** A counted sign-in attempt: `lockedUntil` is set when this attempt locked the user. */
export interface SignInAttempt {
  lockedUntil: number | null;
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

/** Console users and their server-side sessions (src/store/console/). */
export interface ConsoleUserStore {
  /** False when the address is taken. Records `audit` in the same transaction. */
  createUser(user: NewConsoleUser, audit: AuditEvent | null): Promise<boolean>;
  findUserByEmail(email: string): Promise<ConsoleUserToCheck | null>;
  findUser(id: string): Promise<ConsoleUser | null>;
  listUsers(): Promise<ConsoleUser[]>;
  countUsers(): Promise<number>;
  /**
   * Counts a sign-in attempt before its password is checked: the one that reaches `lockAfter`
   * locks the user until `lockUntil`. `null`: the user is locked at `now`, nothing counted.
   */
  countSignInAttempt(
    id: string,
    now: number,
    lockAfter: number,
    lockUntil: number,
  ): Promise<SignInAttempt | null>;
  /** A good sign-in, or an unlock: the count and the lock are cleared. */
  clearFailedSignIns(id: string): Promise<void>;
  /**
   * A new password hash, with the count and the lock cleared and every session of the user
   * ended, in one transaction. Returns how many sessions ended; null: no such user.
   */
  setPassword(id: string, passwordHash: string): Promise<number | null>;
  /**
   * Disables the user at `at` and ends its sessions, in one transaction, if `allowed` (given the
   * user and the other enabled admins, read under lock) says so.
   */
  disableUser(
    id: string,
    at: number,
    allowed: (user: ConsoleUser, otherEnabledAdmins: ConsoleUser[]) => boolean,
  ): Promise<DisableOutcome>;
  /** False when the user was not disabled. */
  enableUser(id: string): Promise<boolean>;
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
   * Sign-out everywhere: ends every session of the user and counts one more sign-out (in one
   * transaction), so a sign-in under way gets no session either. Returns how many ended.
   */
  deleteUserSessions(userId: string): Promise<number>;
  /** Removes sessions unused since `idleBefore` or started before `startedBefore`. */
  pruneSessions(idleBefore: number, startedBefore: number): Promise<number>;
}
