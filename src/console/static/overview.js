// The overview's chart: accepted, sent and failed attempts per minute over the last hour,
// redrawn from /console/overview.json every 10 s. uPlot is served from the package.
import uPlot from '/console/static/uplot.js';

const el = document.querySelector('[data-chart]');
if (el) {
  const url = el.dataset.chart;
  const load = async () => {
    const r = await fetch(url, {
      headers: { accept: 'application/json' },
      credentials: 'same-origin',
    });
    if (!r.ok) return null;
    const { chart } = await r.json();
    return [chart.minutes, chart.accepted, chart.sent, chart.failed];
  };
  const data = await load();
  if (data) {
    const plot = new uPlot(
      {
        width: Math.max(320, el.clientWidth - 16),
        height: 240,
        series: [
          {},
          { label: 'accepted', stroke: '#2f5bd3', width: 2 },
          { label: 'sent', stroke: '#067647', width: 2 },
          { label: 'failed attempts', stroke: '#b42318', width: 2 },
        ],
        axes: [{}, { label: 'per minute' }],
      },
      data,
      el,
    );
    setInterval(async () => {
      // A tab in the background is not drawn: its numbers are not asked for (console.js does
      // the same for the live parts).
      if (document.hidden) return;
      const next = await load().catch(() => null);
      if (next) plot.setData(next);
    }, 10_000);
    addEventListener('resize', () =>
      plot.setSize({ width: Math.max(320, el.clientWidth - 16), height: 240 }),
    );
  }
}
