import type { Suppression } from '../../domain/suppression.ts';
import { isoTime, text, textOrNull } from './values.ts';

export const presentSuppression = (s: Suppression) => ({
  email: text(s.email),
  reason: text(s.reason),
  source: text(s.source),
  detail: textOrNull(s.detail),
  created_at: isoTime(s.createdAt),
});
