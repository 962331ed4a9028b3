import { parseArgs } from 'node:util';
import { ALL_UNITS } from '../domain/operations/scope.ts';
import { unitNameProblem } from '../domain/operations/units.ts';
import {
  cliActor,
  describeParseError,
  isParseArgsError,
  openOperations,
  printTable,
  reportOperationsError,
} from './common.ts';
import type { Config } from './config.ts';

export const UNITS_USAGE = `Usage: tegami units create <name> [<name> ...]
       tegami units list

Business units (hotel, restaurant, ...): every API key and every message belongs to one.
A name is 1 to 63 lower-case letters, digits, - or _. With several names, each is checked
first (its form, and that no unit has it yet): one refused, none is created.

Then create a key for the unit: tegami keys create --unit <name> [--name N]

Options:
  -h, --help            show this help`;

/** `tegami units …`: returns the exit code. */
export async function runUnitsCommand(config: () => Config, args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    console.error(`tegami units: ${describeParseError(error)}\n\n${UNITS_USAGE}`);
    return 64;
  }
  const { values, positionals } = parsed;
  const [action, ...rest] = positionals;
  if (values.help) {
    console.log(UNITS_USAGE);
    return 0;
  }
  const problem =
    action === undefined
      ? 'say create or list'
      : action !== 'list' && action !== 'create'
        ? `unknown action ${JSON.stringify(action)}: create or list`
        : action === 'list' && rest.length > 0
          ? 'list takes no arguments'
          : action === 'create' && rest.length === 0
            ? 'create takes a name'
            : action === 'create' && new Set(rest).size !== rest.length
              ? 'a name is given twice'
              : null;
  if (problem) {
    console.error(`tegami units: ${problem}\n\n${UNITS_USAGE}`);
    return 64;
  }
  const { operations, close } = await openOperations(config(), {
    mustExist: action === 'list',
  });
  try {
    if (action === 'create') {
      // Every name is checked before the first is created: a typo in the third must not leave
      // the first two made and the command to be run again by hand for the rest.
      const taken = new Set((await operations.service.listUnits(ALL_UNITS)).map((u) => u.name));
      const problems = rest.flatMap((name) => {
        const problem = unitNameProblem(name) ?? (taken.has(name) ? 'a unit has this name' : null);
        return problem ? [`\n  ${name}: ${problem}`] : [];
      });
      if (problems.length > 0) {
        console.error(`tegami units: nothing was created${problems.join('')}`);
        return 2;
      }
      for (const name of rest) {
        const unit = await operations.service.createUnit(ALL_UNITS, cliActor(), name);
        console.log(`Created unit ${unit.name} (${unit.id}).`);
      }
      return 0;
    }
    const units = await operations.service.listUnits(ALL_UNITS);
    printTable(
      ['NAME', 'ID', 'CREATED'],
      units.map((u) => [u.name, u.id, new Date(u.createdAt).toISOString()]),
    );
    return 0;
  } catch (error) {
    return reportOperationsError('units', error);
  } finally {
    await close();
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { help: { type: 'boolean', short: 'h' } },
  });
}
