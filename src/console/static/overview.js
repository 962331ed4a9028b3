// The overview's chart: accepted, sent and failed attempts per minute over the last hour. Its
// numbers come with the page, in the JSON script element that data-chart names: a live part that
// console.js refreshes with the page's others (one request every 10 s for the whole page, none
// while the tab is hidden), so the chart asks for nothing itself and is redrawn when they change.
// uPlot is served from the package.
import uPlot from '/console/static/uplot.js';

const el = document.querySelector('[data-chart]');
const source = el && document.getElementById(el.dataset.chart);
if (source) {
  const read = () => {
    try {
      const chart = JSON.parse(source.textContent);
      return [chart.minutes, chart.accepted, chart.sent, chart.failed];
    } catch {
      return null;
    }
  };
  // The hour's accepted mail as drawn, on the chart's element: what it shows can be read without
  // reading the canvas.
  const drawn = (data) => {
    el.dataset.accepted = String(data[1].reduce((a, b) => a + b, 0));
  };
  const data = read();
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
    drawn(data);
    source.addEventListener('redrawn', () => {
      const next = read();
      if (next) {
        plot.setData(next);
        drawn(next);
      }
    });
    addEventListener('resize', () =>
      plot.setSize({ width: Math.max(320, el.clientWidth - 16), height: 240 }),
    );
  }
}
