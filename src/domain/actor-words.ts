import { BOOTSTRAP_KEY_NAME, BOOTSTRAP_SHOWN_NAME } from './api-keys.ts';
import { START_ACTORS } from './operations/audit.ts';
import type { Actor } from './operations/scope.ts';

/**
 * Who did something, as the audit log and the recoveries name them in the console and in
 * `tegami audit` and `tegami recoveries`: by name (a console user's address, an API key's name,
 * the OS user who ran `tegami`), then what it is (`console user`, `API key`, `command line`). The
 * key made from TEGAMI_BOOTSTRAP_API_KEY is `bootstrap`, an API key from that variable; what a
 * start did by itself is by `first start` or `start`, from the variable that made it do so, or
 * `Tegami itself` (START_ACTORS).
 */
export function actorText(actor: Actor): { name: string; kind: string } {
  switch (actor.type) {
    case 'key':
      return actor.name === BOOTSTRAP_KEY_NAME
        ? { name: BOOTSTRAP_SHOWN_NAME, kind: 'API key from TEGAMI_BOOTSTRAP_API_KEY' }
        : { name: actor.name ?? actor.id, kind: 'API key' };
    case 'console':
      return { name: actor.name ?? actor.id, kind: 'console user' };
    case 'cli':
      if (actor.name === null) return { name: actor.id, kind: 'command line' };
      return actor.id === START_ACTORS.firstKey.id
        ? { name: actor.name, kind: 'Tegami itself' }
        : { name: actor.name, kind: `from ${actor.id}` };
  }
  return { name: (actor as Actor).name ?? (actor as Actor).id, kind: (actor as Actor).type };
}

/** The actor in one line of plain text: "hotel app · API key", "deploy · command line". */
export function actorLine(actor: Actor): string {
  const { name, kind } = actorText(actor);
  return `${name} · ${kind}`;
}

/**
 * `actorLine` for a terminal, where the next command needs the id: a named API key ends with its
 * id ("hotel app · API key (key_01…)"), which `tegami keys revoke` and `--actor` take.
 */
export function actorLineWithKeyId(actor: Actor): string {
  const line = actorLine(actor);
  return actor.type === 'key' && actor.name !== null ? `${line} (${actor.id})` : line;
}
