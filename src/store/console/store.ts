import type { ConsoleUserStore } from '../../domain/ports/console-user-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { createUser } from './create-user.ts';
import { deleteSession, deleteUserSessions, pruneSessions } from './delete-sessions.ts';
import { disableUser, enableUser } from './disable-user.ts';
import { findSession } from './find-session.ts';
import { findUser } from './find-user.ts';
import { findUserByEmail } from './find-user-by-email.ts';
import { insertSession } from './insert-session.ts';
import { countUsers, listUserPage } from './list-users.ts';
import {
  clearSignInFailures,
  countSignInAttempt,
  pruneSignInFailures,
  unlockUser,
} from './record-sign-in.ts';
import { setPassword } from './set-password.ts';
import { touchSession } from './touch-session.ts';

/** The console's users and sessions port over the database: one SQL operation per file. */
export function consoleUserStore(handle: DatabaseHandle): ConsoleUserStore {
  return {
    createUser: (user, audit) => createUser(handle, user, audit),
    findUserByEmail: (email) => findUserByEmail(handle, email),
    findUser: (id) => findUser(handle, id),
    listUserPage: (page) => listUserPage(handle, page),
    countUsers: () => countUsers(handle),
    countSignInAttempt: (id, client, now, rules) =>
      countSignInAttempt(handle, id, client, now, rules),
    clearSignInFailures: (id, client) => clearSignInFailures(handle, id, client),
    unlockUser: (id, audit) => unlockUser(handle, id, audit),
    pruneSignInFailures: (before, now) => pruneSignInFailures(handle, before, now),
    setPassword: (id, passwordHash, audit) => setPassword(handle, id, passwordHash, audit),
    disableUser: (id, at, allowed, audit) => disableUser(handle, id, at, allowed, audit),
    enableUser: (id, audit) => enableUser(handle, id, audit),
    insertSession: (session, checked) => insertSession(handle, session, checked),
    findSession: (hash) => findSession(handle, hash),
    touchSession: (hash, now, unitId) => touchSession(handle, hash, now, unitId),
    deleteSession: (hash) => deleteSession(handle, hash),
    deleteUserSessions: (userId, audit) => deleteUserSessions(handle, userId, audit),
    pruneSessions: (idle, started) => pruneSessions(handle, idle, started),
  };
}
