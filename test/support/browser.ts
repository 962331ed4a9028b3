import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's Chromium (`.ci/run` installs it); TEGAMI_CHROMIUM names another. */
export const CHROMIUM = process.env.TEGAMI_CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

/** A headless Chromium with a fresh profile, nothing in the background, removed on close. */
export async function launchBrowser(): Promise<{
  context: BrowserContext;
  close: () => Promise<void>;
}> {
  const profile = mkdtempSync(join(tmpdir(), 'tegami-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
    viewport: { width: 1280, height: 900 },
    locale: 'ja-JP',
    timezoneId: 'Asia/Tokyo',
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Signs in through the console's form (after signing out whoever was signed in). */
export async function signInAs(page: Page, base: string, email: string, password: string) {
  await page.context().clearCookies();
  await page.goto(`${base}/console`);
  await page.waitForURL(/\/console\/sign-in/);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(`${base}/console`), page.click('button[type=submit]')]);
}

/**
 * What a page's markup gets wrong for a screen reader or a keyboard (as axe would say it): a
 * control without a label, a button or link without a name, an empty column header, an image
 * without alt, an id used twice, a description (`aria-describedby`: a refused field's problem)
 * that is not on the page, not one h1, a heading that skips a level.
 */
export const PAGE_PROBLEMS = `(() => {
  const out = [];
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const named = el.getAttribute('aria-label') || [...(el.labels || [])].some((l) => l.textContent.trim());
    if (!named) out.push('a control without a label: ' + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (!el.textContent.trim() && !el.getAttribute('aria-label')) out.push('no name: ' + el.outerHTML.slice(0, 80));
  }
  for (const th of document.querySelectorAll('th')) if (!th.textContent.trim()) out.push('an empty column header');
  for (const el of document.querySelectorAll('img:not([alt])')) out.push('an image without alt');
  const ids = new Set();
  for (const el of document.querySelectorAll('[id]')) {
    if (ids.has(el.id)) out.push('id ' + el.id + ' twice');
    ids.add(el.id);
  }
  for (const el of document.querySelectorAll('[aria-describedby]')) {
    for (const id of el.getAttribute('aria-describedby').split(/\\s+/)) {
      if (!document.getElementById(id)) out.push('described by ' + id + ', which is not on the page');
    }
  }
  if (document.querySelectorAll('h1').length !== 1) out.push('not one h1');
  let level = 0;
  for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
    const next = Number(h.tagName[1]);
    if (next > level + 1) out.push('h' + level + ' then h' + next + ': ' + h.textContent);
    level = next;
  }
  return out;
})()`;
