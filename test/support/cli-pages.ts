import assert from 'node:assert/strict';

/** One run of a `tegami … list` command, its standard output and error apart. */
export interface CliPageRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Every page of `tegami <command> list` (`keys`, `users`), first to last, as an operator reads
 * them: the first with no flags, each next one with the flags of the command the page before said
 * on standard error ("Older keys: tegami keys list --before key_… --limit 7"), until a page says
 * nothing there. Each page must exit 0 and say nothing else on standard error; more than `most`
 * pages fails, so a list whose pages never end cannot keep the test running.
 */
export async function followCliPages<Page extends CliPageRun>(
  run: (...flags: string[]) => Promise<Page>,
  { command, most }: { command: string; most: number },
): Promise<[Page, ...Page[]]> {
  const read = async (flags: string[]) => {
    const page = await run(...flags);
    assert.equal(
      page.code,
      0,
      `${['tegami', command, 'list', ...flags].join(' ')}: ${page.stderr}`,
    );
    return page;
  };
  const first = await read([]);
  const pages: [Page, ...Page[]] = [first];
  let next = nextPageFlags(command, first.stderr);
  while (next !== null) {
    assert.ok(pages.length < most, 'the pages end');
    const page = await read(next);
    pages.push(page);
    next = nextPageFlags(command, page.stderr);
  }
  return pages;
}

/** The flags of the command for the older rows a page's standard error says, or null for none. */
function nextPageFlags(command: string, stderr: string): string[] | null {
  if (stderr === '') return null;
  const said = new RegExp(`^Older ${command}: tegami ${command} list (--[^\\n]+)\\n$`).exec(stderr);
  assert.ok(said?.[1], `the command for the older rows, and only that: ${JSON.stringify(stderr)}`);
  return said[1].split(' ');
}
