/**
 * The SendGrid template a forwarded request names. With the `sendgrid` provider Tegami stores the
 * request as the application sent it and SendGrid renders the mail from its template: the stored
 * message has the request's subject and content, often none, and nothing of the mail as sent.
 * This says which template the mail came from, so the console and the API do not show such a
 * message as empty.
 */
export interface ForwardedTemplate {
  /** The request's `template_id`: `d-` and 32 hex digits for a dynamic template. */
  id: string;
  /** `dynamic` for a `d-` id; `legacy` for any other, which SendGrid wraps around the content. */
  kind: 'dynamic' | 'legacy';
  /**
   * The top-level keys of every personalization's `dynamic_template_data`, each once, in the
   * order they first appear: what the template was given, without the values (a guest's data).
   */
  dataKeys: string[];
}

/**
 * The template of a message stored from a forwarded `POST /v3/mail/send` request; null for any
 * other message. Read defensively: a row written by an older version, or edited by hand, is not
 * a forwarded template rather than an error on every page that shows it.
 */
export function forwardedTemplate(content: unknown): ForwardedTemplate | null {
  const origin = isObject(content) ? content.sendgrid : undefined;
  const request = isObject(origin) ? origin.request : undefined;
  if (!isObject(request)) return null;
  const id = request.template_id;
  if (typeof id !== 'string' || id === '') return null;
  const keys = new Set<string>();
  const personalizations = Array.isArray(request.personalizations) ? request.personalizations : [];
  for (const p of personalizations) {
    if (isObject(p) && isObject(p.dynamic_template_data)) {
      for (const key of Object.keys(p.dynamic_template_data)) keys.add(key);
    }
  }
  return { id, kind: id.startsWith('d-') ? 'dynamic' : 'legacy', dataKeys: [...keys] };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
