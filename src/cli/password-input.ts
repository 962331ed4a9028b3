/** How `tegami users` reads passwords without showing them. */

/**
 * More than the longest password (1,024 characters of up to 4 bytes): reading stops here, so an
 * endless input (`yes |`) cannot fill the memory; what was read is then refused as too long.
 */
const MAX_PASSWORD_INPUT_BYTES = 4 * 1024 + 2;

/** The password: the first line of standard input, or typed at a prompt that does not echo it. */
export async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) return typedUnseen('Password (not shown): ');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const bytes = chunk as Buffer;
    const end = bytes.indexOf(0x0a);
    chunks.push(end < 0 ? bytes : bytes.subarray(0, end));
    size += bytes.length;
    if (end >= 0 || size > MAX_PASSWORD_INPUT_BYTES) break;
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
}

/** Not configuration (src/cli/config.ts): an input of one command, like its standard input. */
export const NEW_PASSWORD_VARIABLE = 'TEGAMI_NEW_PASSWORD';

/**
 * A new password for `tegami users set-password`: TEGAMI_NEW_PASSWORD when it is set, else typed
 * twice at a prompt that does not echo it. Null when neither can be had (no variable, and
 * standard input is no terminal); `mismatch` when the two typed differ.
 */
export async function readNewPassword(): Promise<string | null | { mismatch: true }> {
  const given = process.env[NEW_PASSWORD_VARIABLE];
  if (given !== undefined) return given;
  if (!process.stdin.isTTY) return null;
  const first = await typedUnseen('New password (not shown): ');
  if (first === '') return first;
  const second = await typedUnseen('The same again: ');
  return first === second ? first : { mismatch: true };
}

/** A line typed on the terminal, not shown; Ctrl-C or Ctrl-D gives up. */
async function typedUnseen(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  let typed = '';
  try {
    // Not destroyed on return: set-password asks twice.
    for await (const chunk of stdin.iterator({ destroyOnReturn: false })) {
      for (const character of (chunk as Buffer).toString('utf8')) {
        if (character === '\r' || character === '\n') return typed;
        if (character === '\u0003' || character === '\u0004') return '';
        if (character === '\u007f' || character === '\b')
          typed = Array.from(typed).slice(0, -1).join('');
        else typed += character;
        if (typed.length > MAX_PASSWORD_INPUT_BYTES) return typed;
      }
    }
    return typed;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
