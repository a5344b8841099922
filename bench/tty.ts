/**
 * The terminal renderer's cost (issue #12 item 1: "at 2,000 hosts stays readable and costs < 5 %
 * of CPU"). Starts N loopback hosts, then runs `runbook apply` of the ten-step fixture twice (the
 * first writes the files, the second is idempotent) under a real pseudo-terminal (util-linux
 * `script`, with `stty` setting its size), each with `node --cpu-prof`. Prints per run: process
 * CPU (GNU time), the share of profile samples whose stack holds a renderer frame, the frames
 * drawn and the tallest one (from the cursor-up sequences in what the terminal received).
 *
 *   npm run build && node dist/bench/tty.js --hosts 2000          # RUNBOOK_LAB_OCTET=N moves the lab to 127.N.x.y
 *   node dist/bench/tty.js --hosts 500 --rows 24 --cols 80 --keep-profiles /tmp/prof --first-address 127.1.100.1
 *   node dist/bench/tty.js --quick                                # 12 hosts on a 10-line terminal: proves the harness (the test suite runs this)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { labSupport } from '../src/lab/hosts.js';
import { shellJoin } from '../src/transport/quote.js';
import { connectTimeoutMs, machineLine, resetBenchDir, withBenchLab } from './measure.js';

const CLI = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const RUNBOOK = join(packageRoot, 'bench', 'fixtures', 'ten-steps.yaml');

/** Frames of the terminal view: listr2 and its libraries, the bounded summary, the reporter that feeds them. */
const RENDERER = /node_modules\/(listr2|log-update|cli-truncate|wrap-ansi|string-width|strip-ansi|slice-ansi|ansi-escapes|ansi-regex|ansi-styles|cli-cursor|restore-cursor|eventemitter3|rfdc|get-east-asian-width|emoji-regex|is-fullwidth-code-point)\/|\/report\/(listr|live)\.js/;

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/** Milliseconds of samples with a renderer frame anywhere on the stack, and of all non-idle samples. */
export function rendererShare(p: CpuProfile, renderer: RegExp = RENDERER): { rendererMs: number; busyMs: number } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, boolean>();
  const inRenderer = (id: number): boolean => {
    let v = memo.get(id);
    if (v === undefined) {
      const up = parent.get(id);
      v = renderer.test(byId.get(id)?.callFrame.url ?? '') || (up !== undefined && inRenderer(up));
      memo.set(id, v);
    }
    return v;
  };
  let rendererUs = 0;
  let busyUs = 0;
  p.samples.forEach((id, i) => {
    if (byId.get(id)?.callFrame.functionName === '(idle)') return;
    const dt = p.timeDeltas[i] ?? 0;
    busyUs += dt;
    if (inRenderer(id)) rendererUs += dt;
  });
  return { rendererMs: rendererUs / 1000, busyMs: busyUs / 1000 };
}

/** Frames drawn in place and the tallest: each redraw starts by moving the cursor up over the previous frame. */
export function frameHeights(terminalOutput: string): { redraws: number; tallest: number } {
  // eslint-disable-next-line no-control-regex
  const ups = [...terminalOutput.matchAll(/\x1b\[(\d+)[AF]/g)].map((m) => Number(m[1]));
  return { redraws: ups.length, tallest: Math.max(0, ...ups) };
}

interface TtyRun {
  phase: 'first' | 'second';
  ok: boolean;
  wallMs: number;
  cpuMs: number;
  rendererMs: number;
  busyMs: number;
  redraws: number;
  tallest: number;
  load: number;
  tail: string;
}

function runUnderTty(phase: TtyRun['phase'], argv: string[], size: { rows: number; cols: number }, work: string): TtyRun {
  const profDir = join(work, `prof-${phase}`);
  const timeFile = join(work, `time-${phase}.txt`);
  const outFile = join(work, `tty-${phase}.txt`);
  const inner = `stty cols ${size.cols} rows ${size.rows} && exec ${shellJoin(['/usr/bin/time', '-o', timeFile, '-f', '%U %S', process.execPath, '--cpu-prof', '--cpu-prof-dir', profDir, CLI, ...argv])}`;
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
  delete env.CI; // a terminal view only when not in CI (src/report/reporter.ts)
  const load = loadavg()[0]!;
  const t0 = Date.now();
  const r = spawnSync('script', ['-qfec', inner, '/dev/null'], { env, encoding: 'utf8', maxBuffer: 1 << 28 });
  const wallMs = Date.now() - t0;
  writeFileSync(outFile, r.stdout ?? '');
  const [user, sys] = existsSync(timeFile) ? readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number) : [NaN, NaN];
  const prof = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  const share = prof ? rendererShare(JSON.parse(readFileSync(join(profDir, prof), 'utf8')) as CpuProfile) : { rendererMs: NaN, busyMs: NaN };
  const tail = (r.stdout ?? '').split('\n').slice(-4).join(' | ').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').slice(0, 300); // eslint-disable-line no-control-regex
  return { phase, ok: r.status === 0, wallMs, cpuMs: ((user ?? NaN) + (sys ?? NaN)) * 1000, ...share, ...frameHeights(r.stdout ?? ''), load, tail };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '500' },
      rows: { type: 'string', default: '40' },
      cols: { type: 'string', default: '120' },
      'keep-profiles': { type: 'string' },
      'first-address': { type: 'string', default: '127.1.0.1' },
      quick: { type: 'boolean', default: false },
    },
  });
  const support = labSupport();
  if (!support.ok) {
    console.error(`bench: cannot start loopback hosts: ${support.reason}`);
    process.exitCode = 3;
    return;
  }
  const n = values.quick ? 12 : Number(values.hosts);
  const size = values.quick ? { rows: 10, cols: 80 } : { rows: Number(values.rows), cols: Number(values.cols) };
  const started = Date.now();
  const runs = await withBenchLab(`runbook-tty-${n}-`, { count: n, firstAddress: values['first-address'], readyTimeoutMs: 60_000 + n * 200 }, async (lab, work) => {
    console.log(`${n} sshd hosts up in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const out: TtyRun[] = [];
    const inv = join(work, 'inventory.yaml');
    writeFileSync(inv, lab.inventoryYaml());
    resetBenchDir(lab);
    const argv = ['apply', RUNBOOK, '-i', inv, '--forks', String(n), '--state-dir', join(work, 'state'), '--connect-timeout', String(connectTimeoutMs(n))];
    for (const phase of ['first', 'second'] as const) {
      const r = runUnderTty(phase, argv, size, work);
      out.push(r);
      console.log(`  ${phase}: ${r.ok ? 'ok' : 'FAILED ' + r.tail} ${r.wallMs} ms wall, ${r.cpuMs.toFixed(0)} ms CPU, renderer ${r.rendererMs.toFixed(0)} of ${r.busyMs.toFixed(0)} ms sampled (${((100 * r.rendererMs) / r.busyMs).toFixed(2)} %), ${r.redraws} redraws, tallest ${r.tallest} lines, load ${r.load.toFixed(1)}`);
    }
    if (values['keep-profiles']) {
      mkdirSync(values['keep-profiles'], { recursive: true });
      for (const f of readdirSync(work)) if (f.startsWith('prof-') || f.startsWith('tty-')) spawnSync('cp', ['-r', join(work, f), values['keep-profiles']]);
    }
    return out;
  });
  console.log(`\n${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC — ${machineLine()} — \`node dist/bench/tty.js ${process.argv.slice(2).join(' ')}\``);
  console.log(`\n| hosts | run | terminal | wall | process CPU | renderer (share of sampled time) | redraws | tallest frame | load avg (1 min) |`);
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of runs) console.log(`| ${n} | ${r.phase} | ${size.cols}×${size.rows} | ${(r.wallMs / 1000).toFixed(1)} s | ${(r.cpuMs / 1000).toFixed(1)} s | ${r.rendererMs.toFixed(0)} ms (${((100 * r.rendererMs) / r.busyMs).toFixed(2)} %) | ${r.redraws} | ${r.tallest} lines | ${r.load.toFixed(1)} |`);
  if (runs.some((r) => !r.ok)) process.exitCode = 4;
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
