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

/** Console users and their server-side sessions (src/store/console/). */
export interface ConsoleUserStore {
  /** False when the address is taken. Records `audit` in the same transaction. */
  createUser(user: NewConsoleUser, audit: AuditEvent | null): Promise<boolean>;
  findUserByEmail(email: string): Promise<(ConsoleUser & { passwordHash: string }) | null>;
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
  /** A good sign-in: the count and the lock are cleared. */
  clearFailedSignIns(id: string): Promise<void>;
  insertSession(session: ConsoleSession): Promise<void>;
  findSession(hash: string): Promise<ConsoleSession | null>;
  /** Marks the session used at `now` and, when given, switches its unit. */
  touchSession(hash: string, now: number, unitId?: string | null): Promise<void>;
  deleteSession(hash: string): Promise<void>;
  /** Sign-out everywhere; returns how many sessions ended. */
  deleteUserSessions(userId: string): Promise<number>;
  /** Removes sessions unused since `idleBefore` or started before `startedBefore`. */
  pruneSessions(idleBefore: number, startedBefore: number): Promise<number>;
}
