/**
 * How many runs each fast-check property makes. Property tests pick a default small enough to
 * keep the suite quick; `TEGAMI_TEST_FUZZ_RUNS=2000 node scripts/run-tests.js fuzz` runs longer.
 */
export function fuzzRuns(defaultRuns: number): number {
  const raw = process.env.TEGAMI_TEST_FUZZ_RUNS;
  if (raw === undefined || raw.trim() === '') return defaultRuns;
  const runs = Number(raw);
  if (!Number.isSafeInteger(runs) || runs < 1) {
    throw new Error(`TEGAMI_TEST_FUZZ_RUNS="${raw}": use a whole number of runs, 1 or more`);
  }
  return runs;
}
