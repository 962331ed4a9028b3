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

/** Console users and their server-side sessions (src/store/console/). */
export interface ConsoleUserStore {
  /** False when the address is taken. Records `audit` in the same transaction. */
  createUser(user: NewConsoleUser, audit: AuditEvent | null): Promise<boolean>;
  findUserByEmail(email: string): Promise<(ConsoleUser & { passwordHash: string }) | null>;
  findUser(id: string): Promise<ConsoleUser | null>;
  listUsers(): Promise<ConsoleUser[]>;
  countUsers(): Promise<number>;
  /** Counts a failed sign-in; locks the user until `lockUntil` when it is given. */
  recordFailedSignIn(id: string, lockUntil: number | null): Promise<void>;
  /** A good sign-in: the failure count and lock are cleared. */
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
