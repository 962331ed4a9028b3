/**
 * The size of the next batch of work that should take `targetMs`, from the last batch's size and
 * how long it took: the size that would have taken the target, at most double and at least half
 * the last one (one slow batch on a busy machine does not collapse it), within `min` and `max`.
 * Used by recoveries (chunks of messages) and retention (delete transactions).
 */
export function nextBatchSize(
  previous: { size: number; elapsedMs: number },
  targetMs: number,
  min: number,
  max: number,
): number {
  const fitting =
    previous.elapsedMs > 0
      ? (previous.size * targetMs) / previous.elapsedMs
      : Number.POSITIVE_INFINITY;
  const next = Math.min(previous.size * 2, Math.max(previous.size / 2, fitting));
  return Math.round(Math.max(min, Math.min(max, next)));
}
