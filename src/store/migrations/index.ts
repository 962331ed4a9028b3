import type { Migration } from 'kysely';
import * as initial from './001-initial.ts';

/** Every migration, in order. Names are permanent: they are recorded in the database. */
export const migrations: Record<string, Migration> = {
  '001-initial': initial,
};
