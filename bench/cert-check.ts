/**
 * Fleet cert-check (issue #12 item 2): `runbook apply runbooks/cert-check.yaml` on N simulated
 * kubeadm control-plane nodes against a floor that opens one connection per host and reads the same
 * certificate files over SFTP (bench/floor-sftp.ts), alternating, in one run.
 *
 *   npm run build && node dist/bench/cert-check.js --hosts 500 --runs 3
 *   node dist/bench/cert-check.js --quick          # 3 hosts, 1 run: the harness works (the test suite runs this)
 *   node dist/bench/cert-check.js --hosts 500 --runs 1 --cpu-prof /tmp/prof   # V8 CPU profiles of each side
 *
 * Each lab host gets the simulator's PKI only (src/lab/sim/scenarios.ts installNode: pki/, the
 * kubeconfigs, the kubelet's rotated client certificate; no node agent runs): every tenth node
 * (the third, the 13th, ...) is `expiring-10d-1.28`, the others `healthy-1.28`, so the check has
 * something to find and the bench checks it found exactly those nodes. Twenty distinct node PKIs
 * are issued and copied to the other hosts (installFleetPki); their private keys come from a pool
 * of eight (the check reads certificates, never keys).
 */
import { cpSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { labSupport, type Lab } from '../src/lab/hosts.js';
import { installNode } from '../src/lab/sim/scenarios.js';
import { genKey } from '../src/lab/sim/pki.js';
import { connectTimeoutMs, cpuOf, floorHostsArg, lastLines, machineLine, median, sampleLine, timed, withBenchLab } from './measure.js';

const CLI = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const RUNBOOK = join(packageRoot, 'runbooks', 'cert-check.yaml');
const FLOOR = join(packageRoot, 'dist', 'bench', 'floor-sftp.js');
/** cert-check's exit code when a node has a certificate inside the window (README "Exit codes") */
const EXIT_CHECK_FAILED = 4;

export interface CheckSample {
  tool: 'runbook' | 'floor';
  hosts: number;
  wallMs: number;
  peakRssKiB: number;
  userMs?: number;
  sysMs?: number;
  load: number;
  ok: boolean;
  note?: string;
}

const isExpiring = (i: number) => i % 10 === 2;

/** distinct node PKIs the simulator issues; the other hosts get copies (issuing 500 takes ~9 min of openssl) */
const TEMPLATES = 20;

/**
 * PKI only: the simulator installs TEMPLATES nodes (a few at a time: each runs ~40 openssl
 * processes), and every other host gets a copy of one of them (/etc/kubernetes and
 * /var/lib/kubelet/pki, symlinks kept), so each host has a full node's files to read and parse.
 */
async function installFleetPki(lab: Lab): Promise<void> {
  const pool = await Promise.all(Array.from({ length: 8 }, () => genKey()));
  let next = 0;
  const keys = () => Promise.resolve(pool[next++ % pool.length]!);
  const templates = lab.hosts.slice(0, TEMPLATES);
  let i = 0;
  const worker = async () => {
    while (i < templates.length) {
      const n = i++;
      const h = templates[n]!;
      await installNode(h.root, isExpiring(n) ? 'expiring-10d-1.28' : 'healthy-1.28', { nodeName: h.name, advertiseAddress: h.address, keys });
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  lab.hosts.forEach((h, n) => {
    if (n < TEMPLATES) return;
    const from = lab.hosts[n % TEMPLATES]!;
    for (const tree of ['/etc/kubernetes', '/var/lib/kubelet/pki']) cpSync(lab.hostPath(from, tree), lab.hostPath(h, tree), { recursive: true, verbatimSymlinks: true });
  });
}

function inventory(lab: Lab): string {
  return lab.inventoryYaml() + ['  children:', '    control_plane:', '      hosts:', ...lab.hosts.map((h) => `        ${h.name}: {}`), ''].join('\n');
}

interface HostEnd {
  kind: string;
  host?: string;
  status?: string;
}

/** `--cpu-prof DIR`: each run writes a V8 CPU profile there (open it in Chrome DevTools), to choose the next optimisation from data */
const cpuProf = (dir: string | undefined): string[] => (dir ? ['--cpu-prof', '--cpu-prof-dir', dir, ...(process.env.BENCH_HEAP_PROF ? ['--heap-prof', '--heap-prof-dir', dir] : [])] : []);

async function runRunbook(lab: Lab, work: string, profDir?: string): Promise<CheckSample> {
  const n = lab.hosts.length;
  const load = loadavg()[0]!;
  const r = await timed([process.execPath, ...cpuProf(profDir), CLI, 'apply', RUNBOOK, '-i', join(work, 'inventory.yaml'), '--forks', String(n), '--json', '--state-dir', join(work, 'state'), '--connect-timeout', String(connectTimeoutMs(n))], { CI: '1' });
  // the run must have found exactly the expiring nodes: a fast run that read nothing is no result
  const ends = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as HostEnd).filter((e) => e.kind === 'host-end');
  const failed = new Set(ends.filter((e) => e.status === 'failed').map((e) => e.host));
  const want = new Set(lab.hosts.filter((_, i) => isExpiring(i)).map((h) => h.name));
  const found = ends.length === n && failed.size === want.size && [...want].every((h) => failed.has(h));
  const ok = r.code === (want.size ? EXIT_CHECK_FAILED : 0) && found;
  const note = ok ? undefined : `exit ${r.code}, ${ends.length}/${n} hosts ended, ${failed.size} failed (want ${want.size}): ${lastLines(r.stderr || r.stdout)}`;
  return { tool: 'runbook', hosts: n, wallMs: r.wallMs, peakRssKiB: r.peakRssKiB, ...cpuOf(r), load, ok, ...(note ? { note } : {}) };
}

async function runFloor(lab: Lab, work: string, profDir?: string): Promise<CheckSample> {
  const n = lab.hosts.length;
  const load = loadavg()[0]!;
  const r = await timed([process.execPath, ...cpuProf(profDir), FLOOR, floorHostsArg(lab, join(work, 'floor-hosts.json'))]);
  const ok = r.code === 0 && r.stdout.startsWith(`${n} hosts, `);
  return { tool: 'floor', hosts: n, wallMs: r.wallMs, peakRssKiB: r.peakRssKiB, ...cpuOf(r), load, ok, ...(ok ? {} : { note: lastLines(r.stderr || r.stdout) }) };
}

export async function benchCertCheck(n: number, runs: number, log: (s: string) => void, profDir?: string): Promise<CheckSample[]> {
  const started = Date.now();
  return withBenchLab(`runbook-certcheck-${n}-`, { count: n, namePrefix: 'cp', readyTimeoutMs: 60_000 + n * 200 }, async (lab, work) => {
    log(`  N=${n}: ${n} sshd hosts up in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const t = Date.now();
    await installFleetPki(lab);
    log(`  N=${n}: PKI installed in ${((Date.now() - t) / 1000).toFixed(0)} s`);
    writeFileSync(join(work, 'inventory.yaml'), inventory(lab));
    const samples: CheckSample[] = [];
    for (let i = 0; i < runs; i++) {
      for (const tool of i % 2 === 0 ? (['runbook', 'floor'] as const) : (['floor', 'runbook'] as const)) {
        const s = tool === 'runbook' ? await runRunbook(lab, work, profDir && join(profDir, 'runbook')) : await runFloor(lab, work, profDir && join(profDir, 'floor'));
        samples.push(s);
        log(`  N=${n} run ${i + 1}/${runs} ${tool.padEnd(7)} ${sampleLine(s)}`);
      }
    }
    return samples;
  });
}

export function certCheckTable(samples: CheckSample[]): string[] {
  const rows = ['| hosts | runbook cert-check | SFTP floor | runbook ÷ floor | runbook CPU (user+sys) | floor CPU | runbook peak RSS | floor peak RSS | load avg (1 min) |', '|---|---|---|---|---|---|---|---|---|'];
  for (const n of [...new Set(samples.map((s) => s.hosts))]) {
    const of = (tool: CheckSample['tool']) => samples.filter((s) => s.hosts === n && s.tool === tool && s.ok);
    const rb = median(of('runbook').map((s) => s.wallMs));
    const fl = median(of('floor').map((s) => s.wallMs));
    const rss = (tool: CheckSample['tool']) => `${(Math.max(0, ...of(tool).map((s) => s.peakRssKiB)) / 1024).toFixed(0)} MiB`;
    const load = median(samples.filter((s) => s.hosts === n).map((s) => s.load));
    // the client's own CPU (median): what the wall time hides when the hosts' sshd share the cores
    const cpu = (tool: CheckSample['tool']) => {
      const xs = of(tool).filter((x) => x.userMs !== undefined);
      return xs.length ? `${(median(xs.map((x) => x.userMs! + (x.sysMs ?? 0))) / 1000).toFixed(1)} s` : '';
    };
    rows.push(`| ${n} | ${Number.isNaN(rb) ? 'failed' : `${rb.toFixed(0)} ms`} | ${Number.isNaN(fl) ? 'failed' : `${fl.toFixed(0)} ms`} | ${(rb / fl).toFixed(3)} | ${cpu('runbook')} | ${cpu('floor')} | ${rss('runbook')} | ${rss('floor')} | ${load.toFixed(1)} |`);
  }
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { hosts: { type: 'string', default: '500' }, runs: { type: 'string', default: '3' }, quick: { type: 'boolean', default: false }, 'cpu-prof': { type: 'string' } } });
  const support = labSupport();
  if (!support.ok) {
    console.error(`bench: cannot start loopback hosts: ${support.reason}`);
    process.exitCode = 3;
    return;
  }
  const sizes = values.quick ? [3] : values.hosts.split(',').map(Number).filter((x) => x > 0);
  const runs = values.quick ? 1 : Math.max(1, Number(values.runs));
  const all: CheckSample[] = [];
  for (const n of sizes) all.push(...(await benchCertCheck(n, runs, (s) => console.log(s), values['cpu-prof'])));
  console.log(`\n${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC — ${machineLine()} — \`node dist/bench/cert-check.js ${process.argv.slice(2).join(' ')}\`\n`);
  console.log(certCheckTable(all).join('\n'));
  const failed = all.filter((s) => !s.ok);
  if (failed.length) {
    console.error(`\n${failed.length} run(s) failed`);
    process.exitCode = 4;
  }
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
