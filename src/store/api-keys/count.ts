import type { DatabaseHandle } from '../engine/handle.ts';

/** How many keys exist, revoked ones too. */
export async function countApiKeys(handle: DatabaseHandle): Promise<number> {
  const row = await handle.db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
