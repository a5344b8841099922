/**
 * Benchmark (issue #6): `runbook apply` of a 10-step idempotent runbook against Ansible and a raw
 * ssh2 floor, on the same loopback sshd hosts, in one run, alternating. Prints medians, peak RSS
 * and ratios, then a markdown table (with date and machine) for BENCHMARKS.md.
 *
 *   npm run build && node dist/bench/run.js                 # N = 1, 10, 50 (all three) and 500 (runbook, floor)
 *   node dist/bench/run.js --hosts 10 --runs 3 --big 0      # a smaller run
 *   node dist/bench/run.js --quick                          # 2 hosts, 1 run: proves the harness works (the test suite runs this)
 *   node dist/bench/run.js --scale 50,500,2000              # runbook vs floor per host at each size (and Ansible up to --ansible-up-to, 50): bench/results/scaling.{json,svg}
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/paths.js';
import { labSupport, type Lab } from '../src/lab/hosts.js';
import { connectTimeoutMs, floorHostsArg, lastLines, machineLine, median, resetBenchDir, sampleLine, timed, withBenchLab } from './measure.js';
import { scalingSvg, type ScalePoint } from './plot.js';

const CLI = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const RUNBOOK = join(packageRoot, 'bench', 'fixtures', 'ten-steps.yaml');
const PLAYBOOK = join(packageRoot, 'bench', 'fixtures', 'ten-steps.ansible.yaml');

export interface Sample {
  tool: 'runbook' | 'ansible' | 'floor';
  phase: 'first' | 'second';
  hosts: number;
  wallMs: number;
  peakRssKiB: number;
  ok: boolean;
  note?: string;
  /** 1-minute load average when the run started: the machine is shared, figures are only comparable within one run */
  load?: number;
}

function ansibleInventory(lab: Lab): string {
  const lines = ['all:', '  vars:', `    ansible_ssh_private_key_file: ${lab.privateKeyPath}`, `    ansible_ssh_common_args: "-o UserKnownHostsFile=${lab.knownHostsPath} -o StrictHostKeyChecking=yes"`, '    ansible_python_interpreter: /usr/bin/python3', '  hosts:'];
  for (const h of lab.hosts) lines.push(`    ${h.name}: { ansible_host: ${h.address}, ansible_port: ${h.port}, ansible_user: ${h.user} }`);
  return lines.join('\n') + '\n';
}

async function runRunbook(lab: Lab, work: string, phase: 'first' | 'second'): Promise<Sample> {
  const inv = join(work, 'inventory.yaml');
  const load = loadavg()[0]!;
  const r = await timed([process.execPath, CLI, 'apply', RUNBOOK, '-i', inv, '--forks', String(Math.max(lab.hosts.length, 1)), '--json', '--state-dir', join(work, 'state'), '--connect-timeout', String(connectTimeoutMs(lab.hosts.length))], { CI: '1' });
  const ok = r.code === 0;
  return { tool: 'runbook', phase, hosts: lab.hosts.length, wallMs: r.wallMs, peakRssKiB: r.peakRssKiB, ok, load, ...(ok ? {} : { note: lastLines(r.stderr || r.stdout) }) };
}

async function runAnsible(lab: Lab, work: string, phase: 'first' | 'second'): Promise<Sample> {
  const inv = join(work, 'ansible-inventory.yaml');
  writeFileSync(inv, ansibleInventory(lab)); // here, not by the caller: without it Ansible matches no host and exits 0
  const load = loadavg()[0]!;
  const r = await timed(['ansible-playbook', '-i', inv, '-f', String(Math.max(lab.hosts.length, 1)), PLAYBOOK], {
    ANSIBLE_PIPELINING: '1',
    ANSIBLE_SSH_ARGS: '-o ControlMaster=auto -o ControlPersist=60s',
    ANSIBLE_CONTROL_PATH_DIR: join(work, 'cp'),
    ANSIBLE_HOST_KEY_CHECKING: 'True',
    ANSIBLE_LOCAL_TEMP: join(work, 'ansible-tmp'),
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_RETRY_FILES_ENABLED: '0',
  });
  // a run counts only if its recap has every host, none failed or unreachable
  const recapOk = (r.stdout.match(/^\S+\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0\b/gm) ?? []).length;
  const ok = r.code === 0 && recapOk === lab.hosts.length;
  return { tool: 'ansible', phase, hosts: lab.hosts.length, wallMs: r.wallMs, peakRssKiB: r.peakRssKiB, ok, load, ...(ok ? {} : { note: lastLines(r.stdout + r.stderr) }) };
}

async function runFloor(lab: Lab, phase: 'first' | 'second'): Promise<Sample> {
  // the floor runs in a child process too, so its wall time includes a process start like the others
  const load = loadavg()[0]!;
  const r = await timed([process.execPath, join(packageRoot, 'dist', 'bench', 'floor.js'), floorHostsArg(lab, join(lab.dir, 'floor-hosts.json'))]);
  return { tool: 'floor', phase, hosts: lab.hosts.length, wallMs: r.wallMs, peakRssKiB: r.peakRssKiB, ok: r.code === 0, load, ...(r.code === 0 ? {} : { note: lastLines(r.stderr) }) };
}

export async function benchHosts(n: number, runs: number, tools: Sample['tool'][], log: (s: string) => void): Promise<Sample[]> {
  return withBenchLab(`runbook-bench-${n}-`, { count: n }, async (lab, work) => {
    const samples: Sample[] = [];
    writeFileSync(join(work, 'inventory.yaml'), lab.inventoryYaml());
    for (let i = 0; i < runs; i++) {
      // alternate the order so no tool always runs on a warm (or cold) machine
      const order = i % 2 === 0 ? tools : [...tools].reverse();
      for (const tool of order) {
        resetBenchDir(lab);
        for (const phase of ['first', 'second'] as const) {
          const s = tool === 'runbook' ? await runRunbook(lab, work, phase) : tool === 'ansible' ? await runAnsible(lab, work, phase) : await runFloor(lab, phase);
          samples.push(s);
          log(`  N=${n} run ${i + 1}/${runs} ${tool.padEnd(7)} ${phase.padEnd(6)} ${sampleLine(s)}`);
        }
      }
    }
    return samples;
  });
}

export function summarize(samples: Sample[]): string[] {
  const rows: string[] = ['| hosts | tool | first run (median) | second run (median) | peak RSS | runbook ÷ tool (second run) | load avg (1 min, second runs) |', '|---|---|---|---|---|---|---|'];
  const ns = [...new Set(samples.map((s) => s.hosts))].sort((a, b) => a - b);
  for (const n of ns) {
    const of = (tool: Sample['tool'], phase: Sample['phase']) => samples.filter((s) => s.hosts === n && s.tool === tool && s.phase === phase && s.ok).map((s) => s.wallMs);
    const rb = median(of('runbook', 'second'));
    for (const tool of ['runbook', 'ansible', 'floor'] as const) {
      const first = of(tool, 'first');
      const second = of(tool, 'second');
      if (!first.length && !second.length) continue;
      const rss = Math.max(0, ...samples.filter((s) => s.hosts === n && s.tool === tool).map((s) => s.peakRssKiB)) / 1024;
      const ratio = tool === 'runbook' ? '' : `${(rb / median(second)).toFixed(3)}`;
      const load = median(samples.filter((s) => s.hosts === n && s.tool === tool && s.phase === 'second' && s.load !== undefined).map((s) => s.load!));
      rows.push(`| ${n} | ${tool} | ${median(first).toFixed(0)} ms | ${median(second).toFixed(0)} ms | ${rss.toFixed(0)} MiB | ${ratio} | ${Number.isNaN(load) ? '' : load.toFixed(1)} |`);
    }
  }
  return rows;
}

/**
 * Scaling (issue #12): at each size, the hosts get their files once (runbook's first run), then
 * runbook's idempotent run and the floor alternate `runs` times. Writes the medians, with the
 * load average at each run, to bench/results/scaling.json and the plot to bench/results/scaling.svg.
 */
export async function benchScale(sizes: number[], runs: number, log: (s: string) => void, done: (points: ScalePoint[]) => void = () => undefined, ansibleUpTo = 0): Promise<ScalePoint[]> {
  const points: ScalePoint[] = [];
  for (const n of sizes) {
    const started = Date.now();
    const { samples, firstRss } = await withBenchLab(`runbook-scale-${n}-`, { count: n, readyTimeoutMs: 60_000 + n * 200 }, async (lab, work) => {
      log(`  N=${n}: ${n} sshd hosts up in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      const out: Sample[] = [];
      writeFileSync(join(work, 'inventory.yaml'), lab.inventoryYaml());
      resetBenchDir(lab);
      const first = await runRunbook(lab, work, 'first');
      log(`  N=${n} runbook first  ${sampleLine(first)}`);
      for (let i = 0; i < runs; i++) {
        for (const tool of i % 2 === 0 ? (['runbook', 'floor'] as const) : (['floor', 'runbook'] as const)) {
          const s = tool === 'runbook' ? await runRunbook(lab, work, 'second') : await runFloor(lab, 'second');
          out.push(s);
          log(`  N=${n} run ${i + 1}/${runs} ${tool.padEnd(7)} ${sampleLine(s)}`);
        }
      }
      // Ansible in the same run at the small sizes: its own first run, then the idempotent one that counts
      if (n <= ansibleUpTo) {
        resetBenchDir(lab);
        for (const phase of ['first', 'second'] as const) {
          const s = await runAnsible(lab, work, phase);
          if (phase === 'second') out.push(s);
          log(`  N=${n} ansible ${phase.padEnd(6)} ${sampleLine(s)}`);
        }
      }
      return { samples: out, firstRss: first.ok ? first.peakRssKiB : undefined };
    });
    for (const tool of ['runbook', 'floor', 'ansible'] as const) {
      const ok = samples.filter((s) => s.tool === tool && s.ok);
      if (!ok.length) continue;
      points.push({ tool, hosts: n, wallMs: median(ok.map((s) => s.wallMs)), peakRssKiB: Math.max(...ok.map((s) => s.peakRssKiB)), load: median(ok.map((s) => s.load ?? 0)), ...(tool === 'runbook' && firstRss !== undefined ? { firstRunPeakRssKiB: firstRss } : {}) });
    }
    done(points); // written after each size: a long run that dies later keeps what it measured
  }
  return points;
}

function writeScaling(points: ScalePoint[], command: string, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  writeFileSync(join(dir, 'scaling.json'), JSON.stringify({ date: when, machine: machineLine(), command, points }, null, 2) + '\n');
  writeFileSync(join(dir, 'scaling.svg'), scalingSvg(points.filter((p) => p.tool !== 'ansible'), `${when} UTC, ${machineLine()}: \`${command}\` (medians; load average in each point's tooltip)`));
  const rows = ['| hosts | runbook second run | floor | runbook ÷ floor | Ansible second run | runbook ÷ Ansible | runbook peak RSS (first run) | floor peak RSS | load avg (1 min) |', '|---|---|---|---|---|---|---|---|---|'];
  const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
  for (const n of [...new Set(points.map((p) => p.hosts))]) {
    const rb = points.find((p) => p.hosts === n && p.tool === 'runbook');
    const fl = points.find((p) => p.hosts === n && p.tool === 'floor');
    const an = points.find((p) => p.hosts === n && p.tool === 'ansible');
    const rss = rb ? `${mib(rb.peakRssKiB)}${rb.firstRunPeakRssKiB !== undefined ? ` (${mib(rb.firstRunPeakRssKiB)})` : ''}` : '';
    rows.push(`| ${n} | ${rb ? `${rb.wallMs.toFixed(0)} ms` : 'failed'} | ${fl ? `${fl.wallMs.toFixed(0)} ms` : 'failed'} | ${rb && fl ? (rb.wallMs / fl.wallMs).toFixed(3) : ''} | ${an ? `${an.wallMs.toFixed(0)} ms` : ''} | ${rb && an ? (rb.wallMs / an.wallMs).toFixed(3) : ''} | ${rss} | ${fl ? mib(fl.peakRssKiB) : ''} | ${rb?.load.toFixed(1) ?? ''} |`);
  }
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '1,10,50' },
      big: { type: 'string', default: '500' },
      runs: { type: 'string', default: '5' },
      quick: { type: 'boolean', default: false },
      'no-ansible': { type: 'boolean', default: false },
      scale: { type: 'string' },
      'ansible-up-to': { type: 'string', default: '50' },
      results: { type: 'string', default: join(packageRoot, 'bench', 'results') },
    },
  });
  const support = labSupport();
  if (!support.ok) {
    console.error(`bench: cannot start loopback hosts: ${support.reason}`);
    process.exitCode = 3;
    return;
  }
  const haveAnsible = !values['no-ansible'] && existsSync('/usr/bin/ansible-playbook');
  const all: Sample[] = [];
  const log = (s: string) => console.log(s);
  if (values.scale) {
    const sizes = values.scale.split(',').map(Number).filter((x) => x > 0);
    const command = `node dist/bench/run.js ${process.argv.slice(2).filter((a) => !a.startsWith('--results')).join(' ')}`;
    const points = await benchScale(sizes, Math.max(1, Math.min(3, Number(values.runs))), log, (p) => writeScaling(p, command, values.results), haveAnsible ? Number(values['ansible-up-to']) : 0);
    console.log(`\n${new Date().toISOString().slice(0, 10)} — ${machineLine()} — \`node dist/bench/run.js ${process.argv.slice(2).join(' ')}\``);
    console.log(writeScaling(points, command, values.results).join('\n'));
    console.log(`\nwrote ${join(values.results, 'scaling.json')} and ${join(values.results, 'scaling.svg')}`);
    return;
  }
  if (values.quick) {
    all.push(...(await benchHosts(2, 1, haveAnsible ? ['runbook', 'ansible', 'floor'] : ['runbook', 'floor'], log)));
  } else {
    for (const n of values.hosts.split(',').map(Number).filter((x) => x > 0)) {
      all.push(...(await benchHosts(n, Number(values.runs), haveAnsible ? ['runbook', 'ansible', 'floor'] : ['runbook', 'floor'], log)));
    }
    const big = Number(values.big);
    if (big > 0) all.push(...(await benchHosts(big, Math.min(3, Number(values.runs)), ['runbook', 'floor'], log)));
  }
  console.log(`\n${new Date().toISOString().slice(0, 10)} — ${machineLine()} — \`node dist/bench/run.js ${process.argv.slice(2).join(' ')}\`\n`);
  console.log(summarize(all).join('\n'));
  const failed = all.filter((s) => !s.ok);
  if (failed.length) {
    console.error(`\n${failed.length} run(s) failed`);
    process.exitCode = 4;
  }
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
