/**
 * The fleet expiry page: one self-contained HTML file (opens from disk, no network) with, per
 * cluster, every certificate of every node as a bar on a time axis (today and the renew window
 * marked, colour by health), a sortable table beside it, and the renew command of each node.
 * Charts are Chart.js with its annotation plugin, inlined from their published UMD builds; the
 * data travels as JSON and is put on the page with textContent only (names are never markup).
 */
import { escapeHtml, htmlPage } from '../html-kit.js';
import { writeFileAtomic } from './write.js';
import { countByHealth, type FleetReport } from './model.js';

const STYLE = `
:root { --expired: #c0392b; --expiring: #e67e22; --healthy: #27ae60; --unknown: #7f8c8d; font-family: system-ui, sans-serif; }
body { margin: 1.5rem; color: #222; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #555; font-size: .9rem; }
.counts span { display: inline-block; margin-right: 1rem; font-weight: 600; }
.dot { display: inline-block; width: .8em; height: .8em; border-radius: 50%; margin-right: .3em; vertical-align: -.05em; }
.cluster { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1.5rem; align-items: start; }
@media (max-width: 1100px) { .cluster { grid-template-columns: 1fr; } }
table { border-collapse: collapse; width: 100%; font-size: .85rem; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #ddd; white-space: nowrap; }
th { cursor: pointer; user-select: none; background: #f4f4f4; position: sticky; top: 0; }
th[aria-sort="ascending"]::after { content: " ▲"; } th[aria-sort="descending"]::after { content: " ▼"; }
.table-wrap { max-height: 70vh; overflow: auto; }
td.expired { color: var(--expired); font-weight: 600; } td.expiring { color: var(--expiring); font-weight: 600; }
td.healthy { color: var(--healthy); } td.unknown { color: var(--unknown); }
code { background: #f4f4f4; padding: .1rem .3rem; border-radius: 3px; font-size: .85em; }
`;

/** Runs in the browser: builds charts and tables from the JSON in #fleet-data. */
const PAGE_SCRIPT = `
    const report = JSON.parse(document.getElementById('fleet-data').textContent);
    const now = Date.parse(report.generatedAt);
    const DAY = 86400000;
    const css = getComputedStyle(root);
    const colour = (h) => css.getPropertyValue('--' + h).trim();
    const day = (t) => new Date(t).toISOString().slice(0, 10);
    function sortable(table) {
      const ths = table.querySelectorAll('th');
      ths.forEach((th, col) => th.addEventListener('click', () => {
        const asc = th.getAttribute('aria-sort') !== 'ascending';
        ths.forEach((o) => o.removeAttribute('aria-sort'));
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        const body = table.tBodies[0];
        const rows = [...body.rows];
        const key = (r) => r.cells[col].dataset.sort ?? r.cells[col].textContent;
        const numeric = rows.every((r) => key(r) === '' || !isNaN(Number(key(r))));
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          const c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
          return asc ? c : -c;
        });
        rows.forEach((r) => body.appendChild(r));
      }));
    }
    function table(columns, rows) {
      const t = el('table');
      const head = t.createTHead().insertRow();
      for (const c of columns) head.appendChild(el('th', { scope: 'col' }, c));
      const body = t.createTBody();
      for (const r of rows) {
        const tr = body.insertRow();
        for (const cell of r) {
          const td = tr.insertCell();
          if (cell.code) td.appendChild(el('code', {}, cell.text)); else td.textContent = cell.text;
          if (cell.cls) td.className = cell.cls;
          if (cell.sort !== undefined) td.dataset.sort = String(cell.sort);
        }
      }
      sortable(t);
      return t;
    }
    const main = document.getElementById('clusters');
    const clusters = [...new Set(report.nodes.map((n) => n.cluster))];
    let charts = 0;
    for (const name of clusters) {
      const nodes = report.nodes.filter((n) => n.cluster === name);
      const section = el('section', { 'data-cluster': name });
      section.appendChild(el('h2', {}, 'Cluster ' + name + ' (' + nodes.length + ' node' + (nodes.length === 1 ? '' : 's') + ')'));
      section.appendChild(table(['Node', 'Status', 'Soonest expiry', 'Days left', 'Checked', 'Renew with'], nodes.map((n) => {
        const soonest = n.certs.filter((c) => !c.isCa)[0] || n.certs[0];
        return [
          { text: n.host }, { text: n.health, cls: n.health },
          { text: soonest ? soonest.name + ' ' + day(Date.parse(soonest.notAfter)) : (n.error || 'not read') },
          { text: soonest ? String(soonest.daysLeft) : '', sort: soonest ? soonest.daysLeft : '' },
          { text: n.checkedAt ? n.checkedAt.replace('T', ' ').slice(0, 19) : 'never' },
          n.health === 'healthy' ? { text: 'nothing due' } : { text: n.renewCommand, code: true },
        ];
      })));
      const grid = el('div', { class: 'cluster' });
      const rows = [];
      for (const n of nodes) for (const c of n.certs) rows.push({ n, c });
      const canvasBox = el('div', { style: 'position: relative; height: ' + (rows.length * 18 + 90) + 'px' });
      const canvas = el('canvas', { role: 'img', 'aria-label': 'certificate lifetimes of cluster ' + name });
      canvasBox.appendChild(canvas);
      grid.appendChild(canvasBox);
      const wrap = el('div', { class: 'table-wrap' });
      wrap.appendChild(table(['Node', 'Certificate', 'Kind', 'Expires', 'Days left', 'Status', 'Path'], rows.map(({ n, c }) => [
        { text: n.host }, { text: c.name + (c.isCa ? ' (CA)' : '') }, { text: c.kind },
        { text: day(Date.parse(c.notAfter)), sort: Date.parse(c.notAfter) }, { text: String(c.daysLeft), sort: c.daysLeft },
        { text: c.health, cls: c.health }, { text: c.path },
      ])));
      grid.appendChild(wrap);
      section.appendChild(grid);
      main.appendChild(section);
      if (!rows.length) continue;
      const window = Math.max(...nodes.map((n) => n.withinMs));
      const leafEnds = rows.filter((r) => !r.c.isCa).map((r) => Date.parse(r.c.notAfter));
      const xMin = Math.min(now - 120 * DAY, ...rows.filter((r) => !r.c.isCa).map((r) => Date.parse(r.c.notBefore)));
      const xMax = Math.max(now + window + 60 * DAY, ...leafEnds.map((t) => t + 30 * DAY));
      new Chart(canvas, {
        type: 'bar',
        data: {
          labels: rows.map(({ n, c }) => n.host + ' · ' + c.name),
          datasets: [{
            label: 'valid from → to',
            data: rows.map(({ c }) => [Date.parse(c.notBefore), Date.parse(c.notAfter)]),
            backgroundColor: rows.map(({ c }) => colour(c.health)),
            borderSkipped: false, barPercentage: 0.8, categoryPercentage: 1,
          }],
        },
        options: {
          indexAxis: 'y', animation: false, maintainAspectRatio: false,
          scales: {
            x: { type: 'linear', min: xMin, max: xMax, position: 'top', ticks: { callback: (v) => day(v), maxRotation: 0 } },
            y: { ticks: { autoSkip: false, font: { size: 11 } } },
          },
          plugins: {
            legend: { display: false },
            tooltip: { callbacks: { label: (ctx) => {
              const { n, c } = rows[ctx.dataIndex];
              return [c.path, 'expires ' + c.notAfter + ' (' + c.daysLeft + ' days)', 'status ' + c.health, n.health === 'healthy' ? '' : n.renewCommand].filter(Boolean);
            } } },
            annotation: { annotations: {
              window: { type: 'box', xMin: now, xMax: now + window, backgroundColor: 'rgba(230,126,34,0.12)', borderWidth: 0,
                label: { display: true, content: 'renew window', position: { x: 'center', y: 'start' }, font: { size: 10 } } },
              today: { type: 'line', xMin: now, xMax: now, borderColor: '#222', borderWidth: 2,
                label: { display: true, content: 'today ' + day(now), position: 'start', font: { size: 10 } } },
            } },
          },
        },
      });
      charts++;
    }
    return charts;
`;

export function fleetHtml(r: FleetReport): string {
  const counts = countByHealth(r);
  const title = `kubeadm certificate expiry — ${r.nodes.length} node${r.nodes.length === 1 ? '' : 's'}`;
  const countLine = (['expired', 'expiring', 'healthy', 'unknown'] as const)
    .map((h) => `<span><i class="dot" style="background: var(--${h})"></i>${counts[h]} ${h === 'unknown' ? 'not read' : h}</span>`)
    .join('');
  return htmlPage({
    title,
    style: STYLE,
    intro: `<p class="meta">Generated ${escapeHtml(r.generatedAt)} from run <code>${escapeHtml(r.runId)}</code> of <code>${escapeHtml(r.runbook)}</code>. Bars run from each certificate's NotBefore to its NotAfter; the black line is today, the shaded band the renew window.</p>
<p class="counts">${countLine}</p>`,
    mainId: 'clusters',
    data: { 'fleet-data': r },
    script: PAGE_SCRIPT,
  });
}

export function writeHtml(file: string, r: FleetReport): void {
  writeFileAtomic(file, fleetHtml(r), 0o644);
}
