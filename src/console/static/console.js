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

// An element with data-poll="ms" is fetched again and replaced in place (live numbers).
function poll(el) {
  const every = Number(el.dataset.poll) || 5000;
  const timer = setInterval(async () => {
    try {
      const r = await fetch(location.href, {
        headers: { accept: 'text/html' },
        credentials: 'same-origin',
      });
      if (!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
      const next = el.id ? doc.getElementById(el.id) : null;
      if (!next) return;
      // Only what changed is put in: a notice put in again is a new one to a screen reader, so a
      // provider's outage notice (role="alert") would be read out every poll while it lasts. The
      // element itself stays: a live region polled (role="status") reads out its new words.
      localTimes(next);
      if (next.innerHTML !== el.innerHTML) el.innerHTML = next.innerHTML;
      if (!next.dataset.poll) clearInterval(timer);
    } catch {}
  }, every);
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
for (const el of document.querySelectorAll('[data-poll]')) poll(el);
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
