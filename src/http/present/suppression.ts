import type { Suppression } from '../../domain/suppression.ts';
import { isoTime, text, textOrNull } from './values.ts';

/** An entry as the API shows it; `units` maps unit ids to names. */
export const presentSuppression = (s: Suppression, units: Map<string, string>) => ({
  email: text(s.email),
  reason: text(s.reason),
  source: text(s.source),
  detail: textOrNull(s.detail),
  event_key: textOrNull(s.eventKey),
  message_id: textOrNull(s.messageId ?? null),
  created_at: isoTime(s.createdAt),
  unit: s.unitId === null ? null : (units.get(s.unitId) ?? s.unitId),
});
