/**
 * A bench's size from its environment variable: a whole number of at least 1, or the default
 * when unset. Anything else stops the bench at once with the variable named, instead of a NaN
 * or a 0 that runs something other than asked, or waits ten minutes for messages never sent.
 */
export function benchSize(name: string, fallback: number): number {
  const sizes = benchSizes(name, [fallback]);
  if (sizes.length > 1) {
    console.error(`${name}=${process.env[name]}: one number, not a list`);
    process.exit(64);
  }
  return sizes[0] as number;
}

/** A comma-separated list of sizes (`1,2,4`), each checked as benchSize checks one. */
export function benchSizes(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  return raw.split(',').map((part) => {
    const n = /^[0-9]+$/.test(part) ? Number(part) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 1) {
      console.error(`${name}=${raw}: must be a whole number of 1 or more (unset: ${fallback})`);
      process.exit(64);
    }
    return n;
  });
}
