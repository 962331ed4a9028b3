import { isIdOf } from '../domain/ids.ts';
import type { Scope } from '../domain/operations/scope.ts';
import { UNIT_NAME, type Unit } from '../domain/operations/units.ts';
import type { ConsoleDeps } from './deps.ts';
import { type Html, html } from './html.ts';

/**
 * The most units a form offers as a list (a `<select>` of every unit, by name). With more, the
 * form asks for the unit's name instead: a list of thousands is read by typing anyway, and
 * drawing it made every page with such a form read and send every unit (the API keys, users and
 * status webhooks pages: 15 KB with 200 units listed, 2.5 KB asking for a name).
 */
export const UNITS_LISTED_AT_MOST = 200;

/** What a form's unit field names: a unit by id and name. */
export type NamedUnit = Pick<Unit, 'id' | 'name'>;

/**
 * The units a form offers as a list: every unit by name, when there are at most
 * UNITS_LISTED_AT_MOST; null when there are more, and the form takes a unit's name typed. One
 * more than that is read, never every unit.
 */
export async function unitsToList(deps: ConsoleDeps, scope: Scope): Promise<Unit[] | null> {
  const units = await deps.operations.listUnits(scope, { limit: UNITS_LISTED_AT_MOST + 1 });
  return units.length > UNITS_LISTED_AT_MOST ? null : units;
}

/**
 * The unit a form's field names: by id (a list's option) or by name (typed, as a form with too
 * many units to list asks for it). `no_such_id`: an id, or nothing, that names no unit (a list
 * offers only units, so this is a form not sent from the page); `no_such_name`: a name no unit
 * has. Only the unit named is read.
 */
export async function unitOfField(
  deps: ConsoleDeps,
  value: string,
): Promise<{ kind: 'found'; unit: NamedUnit } | { kind: 'no_such_id' } | { kind: 'no_such_name' }> {
  if (isIdOf('unit', value)) {
    const name = (await deps.operations.unitNames([value])).get(value);
    return name === undefined
      ? { kind: 'no_such_id' }
      : { kind: 'found', unit: { id: value, name } };
  }
  // Meant as an id (`unit_` and capitals, which no name holds), but none: not a name typed.
  if (value.startsWith('unit_') && !UNIT_NAME.test(value)) return { kind: 'no_such_id' };
  const name = value.trim();
  if (name === '') return { kind: 'no_such_id' };
  // A text no unit could be named is not looked for.
  const unit = UNIT_NAME.test(name) ? await deps.operations.findUnit(name) : null;
  return unit
    ? { kind: 'found', unit: { id: unit.id, name: unit.name } }
    : { kind: 'no_such_name' };
}

/** What a name typed that no unit has is answered with: the name as typed, cut short. */
export function noUnitNamed(name: string): string {
  const typed = name.trim();
  return `No unit is named “${typed.length > 100 ? `${typed.slice(0, 100)}…` : typed}”.`;
}

/**
 * A form's field for one unit: a list of `units`, or, when there are too many to list (null),
 * a text field for the unit's name. `typed`: the value sent, when the form is shown again;
 * `everyUnit`: the label of a first choice of no unit (the value ''), which a name left empty
 * means too.
 */
export function unitField(
  units: Unit[] | null,
  options: { name: string; typed: string | undefined; invalid: Html | ''; everyUnit?: string },
): Html {
  const { name, typed, invalid, everyUnit } = options;
  if (units === null) {
    const placeholder = everyUnit ? `${everyUnit}, or a unit's name` : "the unit's name";
    return html`<input name="${name}" value="${typed ?? ''}" placeholder="${placeholder}" autocomplete="off"${everyUnit ? '' : ' required'}${invalid}>`;
  }
  return html`<select name="${name}"${invalid}>${everyUnit ? html`<option value="">${everyUnit}</option>` : ''}${units.map((u) => html`<option value="${u.id}"${typed === u.id || typed === u.name ? ' selected' : ''}>${u.name}</option>`)}</select>`;
}
