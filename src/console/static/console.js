// Progressive enhancement only: every page works without this file.

// Times are written in UTC by the server; show them in the viewer's time zone, named (a support
// person in Tokyo and an engineer in UTC read the same page), UTC on hover.
function localTimes(root) {
  for (const el of root.querySelectorAll('time[datetime]')) {
    const d = new Date(el.getAttribute('datetime'));
    if (Number.isNaN(d.getTime())) continue;
    // A time of day (data-clock: when a lock ends) in hours and minutes; others in full.
    const day = el.hasAttribute('data-clock')
      ? {}
      : { year: 'numeric', month: '2-digit', day: '2-digit', second: '2-digit' };
    el.textContent = d.toLocaleString(undefined, {
      ...day,
      hour: '2-digit',
      minute: '2-digit',
      timeZoneName: 'short',
    });
    el.title = `${el.getAttribute('datetime')} (UTC)`;
  }
}

// Live sections: an element with data-poll="ms" and an id is redrawn from the page fetched again
// every ms. A page's sections come from one render of the page, so they share one request: at
// each tick the page is fetched once and every section whose interval has passed takes its part
// (found by its id) from that answer. The overview's live parts (its chart's numbers among them)
// cost one render every 10 s, not one each; a running recovery's progress (2 s) and outcome
// (10 s), one request every 2 s. A part redrawn is sent a 'redrawn' event.
const lastAsked = new Map(); // section → when its part was last asked for
const interval = (el) => Number(el.dataset.poll) || 5000;
// A timer can fire a few ms before its time: a section due then is not put off a whole tick.
const EARLY_MS = 50;
// A request left unanswered (a server stopped mid-answer) is given up, so refreshing goes on.
const GIVE_UP_MS = 30_000;

let timer; // the next tick, when one is set
let asking = false; // a request is out: the next tick is set when its answer is in
function nextTick() {
  clearTimeout(timer);
  timer = undefined;
  // No live section left (or the session ended): no more requests. A tab in the background asks
  // for nothing; shown again, it asks at once (see the visibilitychange listener below).
  if (lastAsked.size === 0 || document.hidden) return;
  const at = Math.min(...[...lastAsked].map(([el, last]) => last + interval(el)));
  timer = setTimeout(tick, Math.max(0, at - Date.now()));
}

async function tick() {
  timer = undefined;
  const now = Date.now();
  const due = [...lastAsked.keys()].filter(
    (el) => now - lastAsked.get(el) >= interval(el) - EARLY_MS,
  );
  for (const el of due) lastAsked.set(el, now);
  // One request at a time: the next tick is set once this answer is in.
  asking = true;
  try {
    if (due.length > 0) {
      const r = await fetch(location.href, {
        headers: { accept: 'text/html' },
        credentials: 'same-origin',
        signal: AbortSignal.timeout(GIVE_UP_MS),
      });
      // A failed request is tried again at the section's next tick. An expired session is
      // answered with the sign-in page: the sections are left as they are, and the page says
      // that it no longer updates instead of showing old numbers as if they were live.
      if (r.redirected && new URL(r.url).pathname === '/console/sign-in') {
        sessionEnded();
        return;
      }
      if (r.ok) {
        const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
        for (const el of due) redraw(el, doc.getElementById(el.id));
      }
    }
  } catch {
  } finally {
    asking = false;
  }
  nextTick();
}

function sessionEnded() {
  lastAsked.clear();
  const notice = document.createElement('p');
  notice.className = 'error';
  notice.setAttribute('role', 'alert');
  notice.id = 'session-ended';
  const again = document.createElement('a');
  again.href = `/console/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`;
  again.textContent = 'Sign in again';
  notice.append('Your session has ended: this page no longer updates. ', again, '.');
  (document.querySelector('main') ?? document.body).prepend(notice);
}

function redraw(el, next) {
  if (!next) return;
  // Only what changed is put in: a notice put in again is a new one to a screen reader, so a
  // provider's outage notice (role="alert") would be read out every poll while it lasts. The
  // element itself stays: a live region polled (role="status") reads out its new words.
  localTimes(next);
  if (next.innerHTML !== el.innerHTML) {
    el.innerHTML = next.innerHTML;
    // A page's own script that draws from a live part (the overview's chart, from its JSON
    // script element) is told it changed, and needs no request of its own.
    el.dispatchEvent(new Event('redrawn'));
  }
  // The answer says how often to ask again (a recovery's progress: every 2 s while it runs) and
  // when to stop (no data-poll: the recovery is over).
  if (next.dataset.poll) {
    el.dataset.poll = next.dataset.poll;
  } else {
    delete el.dataset.poll;
    lastAsked.delete(el);
  }
}

// Tabs: show one section at a time (all are shown without this file).
function tabs(root) {
  const links = [...root.querySelectorAll('nav a')];
  const show = (hash) => {
    for (const a of links) {
      const section = root.querySelector(a.getAttribute('href'));
      if (section) section.hidden = a.getAttribute('href') !== hash;
      a.setAttribute('aria-current', String(a.getAttribute('href') === hash));
    }
  };
  for (const a of links)
    a.addEventListener('click', (e) => {
      e.preventDefault();
      show(a.getAttribute('href'));
    });
  show(links[0]?.getAttribute('href'));
}

localTimes(document);
for (const el of document.querySelectorAll('[data-poll][id]')) lastAsked.set(el, Date.now());
nextTick();
document.addEventListener('visibilitychange', () => {
  if (document.hidden) nextTick();
  else if (timer === undefined && !asking && lastAsked.size > 0) {
    // Back in view: every live section is due, so one request brings the page up to date.
    for (const el of lastAsked.keys()) lastAsked.set(el, 0);
    nextTick();
  }
});
for (const el of document.querySelectorAll('[data-tabs]')) tabs(el);
// A select that submits its form when a choice is made with the mouse. From the keyboard, the
// arrow keys change a closed select's value one step at a time: each step would load the page, so
// only Enter (or the form's own button) submits, and every choice can be reached.
for (const el of document.querySelectorAll('[data-autosubmit]')) {
  let keyed = false;
  el.addEventListener('pointerdown', () => {
    keyed = false;
  });
  el.addEventListener('keydown', (e) => {
    keyed = true;
    if (e.key === 'Enter') {
      e.preventDefault();
      el.form.requestSubmit();
    }
  });
  el.addEventListener('change', () => {
    if (!keyed) el.form.requestSubmit();
  });
}
