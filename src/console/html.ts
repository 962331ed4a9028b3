/**
 * HTML that escapes by construction: every value put into an `html` template is escaped unless it
 * is itself `Html` (a template or `raw`). No page builds markup by string concatenation.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c] as string);
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value === null || value === undefined || value === false || value === true) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++)
    out += render(values[i] as Value) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** Markup that is known to be safe (built here, never from input). */
export function raw(text: string): Html {
  return new Html(text);
}

/**
 * A value as the text of a JSON script element (`<script type="application/json">`): data for a
 * page's own script, which the browser neither runs nor blocks by the CSP's script-src. Every '<'
 * is written \u003c (JSON.parse reads it back as '<'), so no string in it, a provider named
 * "</script>" say, can end the element early; entities are not read inside a script element, so
 * nothing else needs escaping.
 */
export function jsonText(value: unknown): Html {
  return raw((JSON.stringify(value) ?? 'null').replace(/</g, '\\u003c'));
}

/** A time as UTC text, turned into the viewer's time zone by console.js (UTC stays on hover). */
export function time(ms: number | null | undefined): Html {
  if (ms === null || ms === undefined) return html`<span class="muted">–</span>`;
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}" title="${iso}">${iso.replace('T', ' ').slice(0, 19)} UTC</time>`;
}

/**
 * A time of day to the minute, in UTC ("14:32 UTC"): when a sign-in lock ends, say. Shown in the
 * viewer's time zone as `time` is (hours and minutes only), UTC on hover.
 */
export function clockTime(ms: number): Html {
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}" title="${iso}" data-clock>${iso.slice(11, 16)} UTC</time>`;
}

/** A query string from pairs, leaving out empty values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') search.set(k, String(v));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** An age in words a person reads at a glance: "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}
