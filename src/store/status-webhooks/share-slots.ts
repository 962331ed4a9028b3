/**
 * Shares `slots` among endpoints in rounds, one slot each per round in the given order, each up
 * to its `room`. Returns [endpoint id, slots] for those that got any.
 */
export function shareSlots(
  endpoints: { id: string; room: number }[],
  slots: number,
): [string, number][] {
  const given = new Map<string, number>();
  let left = slots;
  for (let round = 1; left > 0; round++) {
    let gaveAny = false;
    for (const { id, room } of endpoints) {
      if (left === 0) break;
      if (room < round) continue;
      given.set(id, round);
      left--;
      gaveAny = true;
    }
    if (!gaveAny) break;
  }
  return [...given];
}
