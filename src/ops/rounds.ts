/**
 * Rounds of a job that runs on a timer in every process (maintenance, alert rules). A round
 * begins every `intervalMs`, or as soon as the last one ended if it took longer: rounds never
 * overlap, and a long one (a backlog of retention, a slow database) is followed by one round, not
 * by one for each interval it took, back to back, as the ticks of a `setInterval` queued behind
 * it were. The first round begins at once.
 *
 * `round` must not reject: each job reports its own failures (to its outage log) and carries on.
 */
export function startRounds(intervalMs: number, round: () => Promise<unknown>): { cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let roundRunning = false;
  let due = false;
  let cancelled = false;
  function onTimer() {
    if (roundRunning) due = true;
    else void next();
  }
  async function next(): Promise<void> {
    roundRunning = true;
    timer = setTimeout(onTimer, intervalMs);
    timer.unref();
    await round();
    roundRunning = false;
    if (due && !cancelled) {
      due = false;
      void next();
    }
  }
  void next();
  return {
    /** No round begins after this; one running goes on to its end (the job awaits it). */
    cancel() {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}
