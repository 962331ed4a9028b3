import type { DatabaseHandle } from '../engine/handle.ts';

/** Forgets a reporter's view of a provider. */
export async function removeHealth(
  handle: DatabaseHandle,
  provider: string,
  reporter: string,
): Promise<void> {
  await handle.writeTransaction((trx) =>
    trx
      .deleteFrom('provider_health')
      .where('provider', '=', provider)
      .where('reporter', '=', reporter)
      .execute(),
  );
}
