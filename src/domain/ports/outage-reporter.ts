/**
 * Where a loop reports that a database operation failed or worked again, so that an outage is
 * logged as one "down" and one "back" line instead of a stack trace per try (ops/outage-log.ts).
 */
export interface OutageReporter {
  failed(operation: string, error: unknown, fields?: Record<string, unknown>): void;
  succeeded(operation: string): void;
}
