/**
 * `runbook show ID --html FILE`: a run as a self-contained page. Per journal section (the run, then
 * any later rollback), hosts × time: a bar per step coloured by result, waits, connects, rollbacks
 * with their restores and undos, batch starts as lines; hover for the step, click for its commands
 * and messages (from the journal, so secrets are already redacted). Chart.js, inlined.
 */
import { htmlPage } from '../html-kit.js';
import { writeFileAtomic } from '../fleet/write.js';
import type { Timeline } from './model.js';

const STYLE = `
body { margin: 1.5rem; font-family: system-ui, sans-serif; color: #222; }
h1 { font-size: 1.35rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.meta { color: #555; font-size: .9rem; }
.legend span { display: inline-block; margin-right: .9rem; font-size: .85rem; }
.legend i { display: inline-block; width: 1em; height: .8em; margin-right: .3em; vertical-align: -.05em; }
.details { border: 1px solid #ddd; border-radius: 4px; padding: .6rem .8rem; margin-top: .6rem; min-height: 2.5rem; background: #fafafa; font-size: .85rem; }
.details pre { margin: .3rem 0; white-space: pre-wrap; word-break: break-all; }
.warnings { color: #8a5a00; font-size: .85rem; }
`;

/** colours per span kind; the page and its legend use the same table */
export const SPAN_COLOURS: Record<string, string> = {
  ok: '#95a5a6', changed: '#2980b9', change: '#5dade2', failed: '#c0392b', skipped: '#d5d8dc', unknown: '#f5b041',
  wait: '#16a085', connect: '#aed6f1', unreachable: '#922b21', rollback: '#8e44ad', restore: '#6c3483', undo: '#a569bd',
};

const PAGE_SCRIPT = `
    const tl = JSON.parse(document.getElementById('timeline-data').textContent);
    const COLOURS = JSON.parse(document.getElementById('timeline-colours').textContent);
    const main = document.getElementById('sections');
    const secs = (v) => (v / 1000).toFixed(v < 10000 ? 2 : 1) + ' s';
    let charts = 0;
    tl.sections.forEach((s, si) => {
      const section = el('section', { 'data-mode': s.mode });
      section.appendChild(el('h2', {}, s.mode + ' ' + s.runId + ' — ' + s.hosts.length + ' host(s), ' + secs(s.durationMs) + (s.exitCode === undefined ? ', no end recorded (interrupted)' : ', exit ' + s.exitCode)));
      section.appendChild(el('p', { class: 'meta' }, 'started ' + s.startedAt + ' by ' + s.operator + ' — ' + s.runbook));
      for (const w of s.warnings) section.appendChild(el('p', { class: 'warnings' }, 'warning: ' + w));
      const box = el('div', { style: 'position: relative; height: ' + (s.hosts.length * 28 + 80) + 'px' });
      const canvas = el('canvas', { role: 'img', 'aria-label': s.mode + ' timeline' });
      box.appendChild(canvas);
      section.appendChild(box);
      const details = el('div', { class: 'details', id: 'details-' + si }, 'Click a bar for its commands and messages.');
      section.appendChild(details);
      main.appendChild(section);
      const labels = s.hosts.map((h) => h + (s.status[h] ? ' (' + s.status[h] + ')' : ''));
      // a rollback bar is the background of its restores and undos: drawn first, under them
      const kinds = [...new Set(s.spans.map((x) => x.kind))].sort((a, b) => (b === 'rollback') - (a === 'rollback'));
      // instants (a restore, an undo) get a visible width
      const minWidth = Math.max(1, s.durationMs * 0.004);
      const datasets = kinds.map((k) => ({
        label: k,
        data: s.spans.map((x, i) => ({ x: [x.start, Math.max(x.end, x.start + minWidth)], y: labels[s.hosts.indexOf(x.host)], i })).filter((d) => s.spans[d.i].kind === k),
        backgroundColor: COLOURS[k] || '#999',
        borderColor: '#fff', borderWidth: 1, borderSkipped: false,
        grouped: false, barPercentage: 0.7, categoryPercentage: 1,
      }));
      const show = (span) => {
        details.textContent = '';
        details.appendChild(el('strong', {}, span.host + ': ' + span.label));
        details.appendChild(el('div', {}, span.kind + ' (' + span.type + '), at ' + secs(span.start) + ', took ' + secs(span.end - span.start)));
        if (span.item !== undefined) details.appendChild(el('div', {}, 'item: ' + JSON.stringify(span.item)));
        for (const c of span.commands) details.appendChild(el('pre', {}, '$ ' + c));
        if (span.message) details.appendChild(el('pre', {}, span.message));
      };
      const annotations = {};
      s.batches.forEach((b, bi) => { annotations['b' + bi] = { type: 'line', xMin: b.at, xMax: b.at, borderColor: '#555', borderDash: [4, 3], borderWidth: 1, label: { display: true, content: b.label, position: 'start', font: { size: 10 } } }; });
      new Chart(canvas, {
        type: 'bar',
        data: { labels, datasets },
        options: {
          indexAxis: 'y', animation: false, maintainAspectRatio: false, parsing: { xAxisKey: 'x', yAxisKey: 'y' },
          scales: { x: { type: 'linear', min: 0, max: Math.max(1, s.durationMs), position: 'top', ticks: { callback: (v) => secs(v) } } },
          plugins: {
            legend: { position: 'bottom' },
            annotation: { annotations },
            tooltip: { callbacks: { label: (ctx) => { const sp = s.spans[ctx.raw.i]; return [sp.label, sp.kind + ', ' + secs(sp.end - sp.start)].concat(sp.message ? [sp.message.slice(0, 160)] : []); } } },
          },
          onClick: (evt, elements) => { if (elements.length) { const d = datasets[elements[0].datasetIndex].data[elements[0].index]; show(s.spans[d.i]); } },
        },
      });
      charts++;
    });
    return charts;
`;

export function timelineHtml(tl: Timeline): string {
  const title = `run ${tl.runId}`;
  const legend = Object.entries(SPAN_COLOURS).map(([k, c]) => `<span><i style="background:${c}"></i>${k}</span>`).join('');
  return htmlPage({
    title,
    style: STYLE,
    intro: `<p class="legend">${legend}</p>`,
    mainId: 'sections',
    data: { 'timeline-data': tl, 'timeline-colours': SPAN_COLOURS },
    script: PAGE_SCRIPT,
  });
}

export function writeTimelineHtml(file: string, tl: Timeline): void {
  writeFileAtomic(file, timelineHtml(tl), 0o644);
}
