import { type Html, html } from './html.ts';

/**
 * A form the server refused, shown again with what was typed: what is wrong, in the form's own
 * words, and which of its fields it is about. A page built with one says it above the form's
 * fields and marks those fields (`aria-invalid`, described by what is wrong), as the
 * suppressions, audit log, search and unsent view do; the answer keeps its 4xx status.
 */
export interface Refusal {
  /** The id of the element that says what is wrong: one of its own on the page. */
  id: string;
  /** Each problem a sentence, in the console's words. */
  problems: string[];
  /** The names of the fields the problems are about. */
  fields: readonly string[];
  /**
   * What the refusal left undone ("No unit was created."), and how to go on where the problems
   * do not say it (a search: where its keys are listed).
   */
  outcome: string | Html;
  /**
   * Fields that were typed but are not shown back, since what they hold is a credential (a
   * password, a Slack webhook URL): by their labels, to be typed again.
   */
  retype: readonly string[];
}

/** A refusal of one problem or more. */
export function refusal(
  id: string,
  problems: string | string[],
  fields: readonly string[],
  outcome: string | Html,
  retype: readonly string[] = [],
): Refusal {
  return { id, problems: ([] as string[]).concat(problems), fields, outcome, retype };
}

/**
 * What is wrong, read out as soon as the page is shown (`role="alert"`): one problem as a
 * paragraph, several as a list; then what was left undone, and the fields to type again.
 */
export function refusalNotice(refused: Refusal | null): Html | '' {
  if (!refused) return '';
  const [only] = refused.problems;
  const said =
    refused.problems.length === 1
      ? html`<p>${only}</p>`
      : html`<ul>${refused.problems.map((p) => html`<li>${p}</li>`)}</ul>`;
  const retype =
    refused.retype.length === 0
      ? ''
      : html` ${refused.retype.map((label, i) => html`${i > 0 ? ' and ' : ''}“${label}”`)} ${refused.retype.length === 1 ? 'is' : 'are'} not shown again: type ${refused.retype.length === 1 ? 'it' : 'them'} again.`;
  return html`<div class="error form-error" role="alert" id="${refused.id}">${said}
<p>${refused.outcome}${retype}</p></div>`;
}

/** The attributes of a field the refusal is about: invalid, described by what is wrong. */
export function invalidIf(refused: Refusal | null, field: string): Html | '' {
  if (!refused?.fields.includes(field)) return '';
  return html` aria-invalid="true" aria-describedby="${refused.id}"`;
}
