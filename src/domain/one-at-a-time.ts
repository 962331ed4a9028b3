/**
 * Work run one at a time per key within this process: `work` starts once no earlier work of
 * `key` in `running` is left (whether it succeeded or not), and `running` holds it until it ends.
 * For requests that must see what an earlier one with the same key did (a retried submission, a
 * confirmation clicked twice), not for locking across processes.
 */
export async function oneAtATime<T>(
  running: Map<string, Promise<unknown>>,
  key: string,
  work: () => Promise<T>,
): Promise<T> {
  for (let earlier = running.get(key); earlier; earlier = running.get(key)) {
    await earlier.catch(() => {});
  }
  // No await between the wait above and this: no other work of the key can start in between.
  const mine = work();
  running.set(key, mine);
  try {
    return await mine;
  } finally {
    if (running.get(key) === mine) running.delete(key);
  }
}
