/**
 * The scaling plot (issue #12): time per host and peak RSS per host against the host count, for
 * runbook and the ssh2 floor, as one self-contained SVG (two panels, log-scale host axis) that the
 * bench writes into the repository. No dependency: a few dozen lines of SVG.
 */
export interface ScalePoint {
  /** Ansible only at the small sizes (bench/run.ts --ansible-up-to), and not plotted */
  tool: 'runbook' | 'floor' | 'ansible';
  hosts: number;
  /** wall time of the idempotent (second) run */
  wallMs: number;
  peakRssKiB: number;
  /** 1-minute load average when the run started */
  load: number;
  /** runbook: the peak RSS of its first run (the one that writes the files) */
  firstRunPeakRssKiB?: number;
}

const W = 420;
const H = 260;
const M = { l: 60, r: 16, t: 34, b: 44 };
const COLORS: Record<ScalePoint['tool'], string> = { runbook: '#1f77b4', floor: '#d62728', ansible: '#2ca02c' };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function panel(x0: number, title: string, unit: string, points: ScalePoint[], y: (p: ScalePoint) => number): string {
  const ns = [...new Set(points.map((p) => p.hosts))].sort((a, b) => a - b);
  const lo = Math.log10(Math.min(...ns) / 1.5);
  const hi = Math.log10(Math.max(...ns) * 1.5);
  const ymax = niceMax(Math.max(...points.map(y)) * 1.1);
  const px = (n: number) => x0 + M.l + ((Math.log10(n) - lo) / (hi - lo)) * (W - M.l - M.r);
  const py = (v: number) => M.t + (1 - v / ymax) * (H - M.t - M.b);
  const out: string[] = [];
  out.push(`<text x="${x0 + W / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  out.push(`<line x1="${x0 + M.l}" y1="${H - M.b}" x2="${x0 + W - M.r}" y2="${H - M.b}" stroke="#444"/>`);
  out.push(`<line x1="${x0 + M.l}" y1="${M.t}" x2="${x0 + M.l}" y2="${H - M.b}" stroke="#444"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    out.push(`<line x1="${x0 + M.l - 4}" y1="${py(v)}" x2="${x0 + W - M.r}" y2="${py(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${x0 + M.l - 7}" y="${py(v) + 4}" text-anchor="end">${+v.toPrecision(3)}</text>`);
  }
  for (const n of ns) out.push(`<text x="${px(n)}" y="${H - M.b + 16}" text-anchor="middle">${n}</text>`);
  out.push(`<text x="${x0 + (W + M.l) / 2}" y="${H - 8}" text-anchor="middle">hosts (log scale)</text>`);
  out.push(`<text transform="translate(${x0 + 14},${(H + M.t - M.b) / 2}) rotate(-90)" text-anchor="middle">${esc(unit)}</text>`);
  for (const tool of ['runbook', 'floor'] as const) {
    const pts = points.filter((p) => p.tool === tool).sort((a, b) => a.hosts - b.hosts);
    if (!pts.length) continue;
    out.push(`<polyline fill="none" stroke="${COLORS[tool]}" stroke-width="2" points="${pts.map((p) => `${px(p.hosts).toFixed(1)},${py(y(p)).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${px(p.hosts).toFixed(1)}" cy="${py(y(p)).toFixed(1)}" r="3.5" fill="${COLORS[tool]}"><title>${tool}, ${p.hosts} hosts: ${y(p).toFixed(2)} ${esc(unit)} (load ${p.load.toFixed(1)})</title></circle>`);
  }
  return out.join('\n');
}

/** Two panels side by side: ms per host, and peak RSS KiB per host; a legend and a caption line. */
export function scalingSvg(points: ScalePoint[], caption: string): string {
  const body = [
    panel(0, 'Second run: wall time per host', 'ms per host', points, (p) => p.wallMs / p.hosts),
    panel(W, 'Peak RSS of the whole process, per host', 'KiB per host', points, (p) => p.peakRssKiB / p.hosts),
  ];
  const legend = (['runbook', 'floor'] as const)
    .map((t, i) => `<rect x="${W * 2 - 170 + i * 80}" y="${H + 4}" width="12" height="12" fill="${COLORS[t]}"/><text x="${W * 2 - 154 + i * 80}" y="${H + 14}">${t}</text>`)
    .join('');
  // the caption wraps at ~140 characters (the plot is 840 px wide)
  const lines: string[] = [''];
  for (const word of caption.split(' ')) {
    if ((lines[lines.length - 1] + ' ' + word).length > 140) lines.push(word);
    else lines[lines.length - 1] = `${lines[lines.length - 1]} ${word}`.trim();
  }
  const captionSvg = lines.map((l, i) => `<text x="8" y="${H + 32 + i * 14}" fill="#555">${esc(l)}</text>`).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W * 2}" height="${H + 26 + lines.length * 14}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
${body.join('\n')}
${legend}
${captionSvg}
</svg>
`;
}
