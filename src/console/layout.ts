import { type Html, html, qs } from './html.ts';
import type { ConsoleRequestState } from './session.ts';

/** `everyUnit`: pages only an admin of every unit may open (session.ts). */
const NAV: { href: string; label: string; admin?: boolean; everyUnit?: boolean }[] = [
  { href: '/console', label: 'Overview' },
  { href: '/console/messages', label: 'Search' },
  { href: '/console/unsent', label: 'Unsent' },
  { href: '/console/recoveries', label: 'Recoveries' },
  { href: '/console/alerts', label: 'Alerts' },
  { href: '/console/suppressions', label: 'Suppressions' },
  { href: '/console/audit', label: 'Audit log' },
  { href: '/console/keys', label: 'API keys', admin: true, everyUnit: true },
  { href: '/console/units', label: 'Units', admin: true, everyUnit: true },
  { href: '/console/webhooks', label: 'Status webhooks', admin: true },
  { href: '/console/users', label: 'Users', admin: true, everyUnit: true },
];

/** The page around every console page: navigation, who is signed in, the unit shown. */
export function page(
  title: string,
  state: ConsoleRequestState | null,
  body: Html,
  current = '',
): Html {
  const user = state?.user;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Tegami</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/static/console.css">
<script type="module" src="/console/static/console.js"></script>
${current === '/console' ? html`<link rel="stylesheet" href="/console/static/uplot.css"><script type="module" src="/console/static/overview.js"></script>` : ''}
</head>
<body>
${
  user && state
    ? html`<a class="skip" href="#main">Skip to the content</a>
<header class="top">
  <a class="brand" href="/console">Tegami</a>
  <nav>${NAV.filter(
    (n) => (!n.admin || user.role === 'admin') && (!n.everyUnit || user.unitIds === null),
  ).map(
    (n) =>
      html`<a href="${n.href}" ${n.href === current ? html`aria-current="page"` : ''}>${n.label}</a>`,
  )}</nav>
  <div class="who">
    ${
      state.units.length > 1
        ? html`<form method="post" action="/console/unit" class="inline">
      <input type="hidden" name="_csrf" value="${state.session.csrfToken}">
      <input type="hidden" name="next" value="${current || '/console'}${qs({ q: state.search })}">
      <select name="unit" aria-label="Unit" data-autosubmit>${state.units.map(
        (u) =>
          html`<option value="${u.id}" ${u.id === state.unitId ? 'selected' : ''}>${u.name}</option>`,
      )}</select> <button type="submit" class="link">Show</button></form>`
        : ''
    }
    <span title="${user.role}">${user.email} (${user.role})</span>
    <form method="post" action="/console/sign-out" class="inline">
      <input type="hidden" name="_csrf" value="${state.session.csrfToken}">
      <button type="submit" class="link">Sign out</button>
    </form>
  </div>
</header>`
    : ''
}
<main id="main">
<h1>${title}</h1>
${body}
</main>
</body>
</html>`;
}

/** A hidden CSRF field for a form of the signed-in user. */
export function csrf(state: ConsoleRequestState): Html {
  return html`<input type="hidden" name="_csrf" value="${state.session.csrfToken}">`;
}
