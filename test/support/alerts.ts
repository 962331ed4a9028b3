import type { Alert } from '../../src/domain/alerts/lifecycle.ts';
import { newId } from '../../src/domain/ids.ts';

/**
 * A firing alert to store directly (`createAlertStore(…).open(alert, [])`), for tests of what the
 * API and the console show of alerts without waiting for a rule to fire: a provider-wide
 * `delivery_delay` that started now, with a fresh id of the real shape (the console refuses page
 * links naming any other). `over` sets what the test is about.
 */
export function firingAlert(over: Partial<Alert> = {}): Alert {
  const now = Date.now();
  return {
    id: newId('alt'),
    key: 'delivery_delay',
    rule: 'delivery_delay',
    severity: 'critical',
    state: 'firing',
    unitId: null,
    provider: 'sandbox',
    fault: 'provider',
    summary: 'delivery is late',
    hint: 'wait for the provider',
    evidence: { count: 1, threshold: 1, since: now, topErrors: [], provider: null, details: {} },
    startedAt: now,
    endedAt: null,
    lastNotifiedAt: now,
    updatedAt: now,
    ...over,
  };
}
