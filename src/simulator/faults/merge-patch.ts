/**
 * The body of `PATCH /_simulator/faults`: a JSON merge patch (RFC 7386) of the fault settings,
 * so that a drill changes one fault and keeps the others. A field set to null is removed; a field
 * not named is kept.
 *
 * Which objects merge follows the shape of `Faults`. `errorRates` is a map of separate faults,
 * one per status, so it merges status by status: `{"errorRates": {"429": 0.05}}` adds 429s and
 * keeps the 503s, and `{"errorRates": {"503": null}}` removes the 503s only. `latencyMs` (one
 * delay or one range) and `outage` (one event, which starts when it is set) are single values
 * and are replaced whole; lists are replaced whole, as RFC 7386 says of arrays.
 */
import {
  checkErrorStatus,
  checkFieldNames,
  type Faults,
  FaultsError,
  isPlainObject,
  validateFaults,
} from './settings.ts';

/**
 * The settings `patch` makes of `current`, checked as a whole by `validateFaults` (so rates that
 * add up to more than 1 across old and new fields are refused too). Throws FaultsError with a
 * clear message; `current` is never changed.
 */
export function mergeFaultsPatch(current: Faults, patch: unknown): Faults {
  if (!isPlainObject(patch)) {
    throw new FaultsError(
      'send a JSON object of the faults to change, e.g. {"errorRates": {"503": 0.1}}, with null for a fault to remove',
    );
  }
  // Checked here as well as in validateFaults: a field set to null is gone from the merged
  // settings, so a misspelt one would otherwise be accepted and remove nothing.
  checkFieldNames(patch);
  const merged: Record<string, unknown> = { ...current };
  for (const [field, value] of Object.entries(patch)) {
    if (value === null) delete merged[field];
    else if (field === 'errorRates') merged.errorRates = mergeErrorRates(current.errorRates, value);
    else if (field === 'outage') merged.outage = wholeOutage(value);
    else merged[field] = value;
  }
  return validateFaults(merged);
}

function mergeErrorRates(current: Faults['errorRates'], patch: unknown): Record<string, unknown> {
  if (!isPlainObject(patch)) {
    throw new FaultsError(
      'errorRates must be an object like {"503": 0.1} (a status set to null is removed), or null to remove every error rate',
    );
  }
  const rates: Record<string, unknown> = { ...current };
  for (const [status, rate] of Object.entries(patch)) {
    // A status set to null is checked too, for the same reason as a field.
    checkErrorStatus(status);
    if (rate === null) delete rates[status];
    else rates[status] = rate;
  }
  return rates;
}

/** An outage is not merged into the one running: it is a new one, so it must be whole. */
function wholeOutage(value: unknown): unknown {
  if (isPlainObject(value) && (value.mode === undefined || value.durationMs === undefined)) {
    throw new FaultsError(
      'outage is replaced whole and starts now: send both mode and durationMs, e.g. {"outage": {"mode": "503", "durationMs": 60000}}, or {"outage": null} to end it',
    );
  }
  return value;
}
