/**
 * Job slicing (`--slice K/N`) against real sshd hosts: N slices run at once as separate CLI
 * processes change every host exactly once, keep each cluster in one slice for a rolling runbook,
 * journal their slice and group, and `history --group` / `rollback --group` treat them as one run.
 * The shipped scheduler examples (a Kubernetes Indexed Job, a CI matrix) are parsed and their
 * slice arguments checked: each index gives a distinct slice and together they give 1..N.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import type { Lab } from '../src/lab/hosts.js';
import { packageRoot } from '../src/lab/sim/paths.js';
import { runProcess } from './support/run.js';
import { dir, lab, stateDir, useLab } from './support/lab.js';

const CLI = join(packageRoot, 'dist/src/cli/main.js');
const SLICES = 3;
const HOSTS = 7;

const cli = (args: string[]) => runProcess(process.execPath, [CLI, ...args], { cwd: dir, env: { RUNBOOK_SLICE_GROUP: '' } });

const RUNBOOK = `apiVersion: runbook/v1
name: slice-wave
hosts: all
serial: 1
on_failure: rollback
steps:
  - name: Mark the host
    copy: { dest: /var/lib/runbook/wave, content: "{{ inventory_hostname }}\\n" }
`;

/** two clusters of two and three hosts without one: a rolling runbook must keep each cluster whole */
function clusteredInventory(l: Lab): string {
  const cluster = (i: number) => (i < 2 ? 'east' : i < 4 ? 'west' : undefined);
  const lines = l.inventoryYaml().trimEnd().split('\n').map((line) => {
    const i = l.hosts.findIndex((h) => line.includes(`${h.name}:`));
    const c = i >= 0 ? cluster(i) : undefined;
    return c ? line.replace(/ }$/, `, cluster: ${c} }`) : line;
  });
  return lines.join('\n') + '\n';
}

const skip = useLab({
  start: { count: HOSTS, firstAddress: '127.1.237.1', namePrefix: 'sl' },
  tmp: 'runbook-slice-',
  inventory: clusteredInventory,
  runbook: { file: 'wave.yaml', text: RUNBOOK },
});

test('N slices at once change every host exactly once; history and rollback see one group', { skip, timeout: 180_000 }, async () => {
  const runs = await Promise.all(
    Array.from({ length: SLICES }, (_, i) => cli(['apply', 'wave.yaml', '-i', 'inventory.yaml', '--state-dir', stateDir, '--slice', `${i + 1}/${SLICES}`, '--slice-group', 'wave-1'])),
  );
  runs.forEach((r, i) => assert.equal(r.code, 0, `slice ${i + 1}: ${r.out}`));
  // which slice each host ran in, from the recaps
  const sliceOf = new Map<string, number>();
  runs.forEach((r, i) => {
    // recap rows: HOST STATUS OK CHANGED ...
    for (const h of lab.hosts) if (new RegExp(`^${h.name} +ok +0 +1 `, 'm').test(r.out)) {
      assert.equal(sliceOf.has(h.name), false, `${h.name} ran in two slices`);
      sliceOf.set(h.name, i + 1);
    }
  });
  for (const h of lab.hosts) {
    assert.ok(sliceOf.has(h.name), `${h.name} ran in no slice`);
    assert.equal(readFileSync(lab.hostPath(h, '/var/lib/runbook/wave'), 'utf8'), `${h.name}\n`);
  }
  // each cluster in one slice; sizes as balanced as whole clusters allow (2, 2, 3 hosts → 2/3, 2, 2)
  assert.equal(sliceOf.get('sl-01'), sliceOf.get('sl-02'));
  assert.equal(sliceOf.get('sl-03'), sliceOf.get('sl-04'));
  const sizes = [1, 2, 3].map((k) => [...sliceOf.values()].filter((v) => v === k).length).sort();
  assert.deepEqual(sizes, [2, 2, 3]);

  // the same slices again: stable, and nothing left to change
  const again = await cli(['plan', 'wave.yaml', '-i', 'inventory.yaml', '--slice', `2/${SLICES}`, '--state-dir', stateDir]);
  assert.equal(again.code, 0, again.out);
  for (const [name, k] of sliceOf) assert.equal(new RegExp(`^\\s*${name}\\s`, 'm').test(again.out), k === 2, `${name} in plan of slice 2`);

  const hist = await cli(['history', '--group', 'wave-1', '--state-dir', stateDir]);
  assert.equal(hist.code, 0, hist.out);
  assert.equal((hist.out.match(/\[slice \d\/3\]/g) ?? []).length, SLICES, hist.out);
  assert.match(hist.out, /group wave-1: 3 of 3 slices journaled here; 7 hosts, changed=7 failed=0 unreachable=0 rolled-back=0; every slice here ended ok/);

  const rb = await cli(['rollback', '--group', 'wave-1', '--state-dir', stateDir]);
  assert.equal(rb.code, 0, rb.out);
  for (const h of lab.hosts) assert.equal(existsSync(lab.hostPath(h, '/var/lib/runbook/wave')), false, `${h.name} not rolled back`);

  const none = await cli(['rollback', '--group', 'nope', '--state-dir', stateDir]);
  assert.equal(none.code, 3, none.out);
  assert.match(none.out, /no slices of nope/);
  // apply journals its slice: jobs must be told their group, never derive it from a clock
  const noGroup = await cli(['apply', 'wave.yaml', '-i', 'inventory.yaml', '--slice', '1/3']);
  assert.equal(noGroup.code, 3, noGroup.out);
  assert.match(noGroup.out, /--slice needs the name of the logical run/);
  // a runbook that coordinates hosts is split only into whole clusters; loose hosts are refused
  writeFileSync(join(dir, 'cross.yaml'), RUNBOOK.replace('name: slice-wave', 'name: cross').replace('content: "{{ inventory_hostname }}\\n"', 'content: "{{ groups[\'all\'][0] }}\\n"'));
  const cross = await cli(['plan', 'cross.yaml', '-i', 'inventory.yaml', '--slice', '1/2']);
  assert.equal(cross.code, 3, cross.out);
  assert.match(cross.out, /coordinates hosts \(it uses groups\), so a slice must hold whole clusters, but sl-05, sl-06, sl-07 have no `cluster` variable/);
  const bad = await cli(['apply', 'wave.yaml', '-i', 'inventory.yaml', '--slice', '0/3', '--slice-group', 'x']);
  assert.equal(bad.code, 3, bad.out);
  assert.match(bad.out, /expected K\/N with 1 ≤ K ≤ N.*JOB_COMPLETION_INDEX \+ 1/);
});

/** Runs the example's shell with a stand-in `runbook` on PATH that prints its argv as JSON. */
function argsFromScript(script: string, env: Record<string, string>): string[] {
  const bin = join(dir ?? mkdtempSync(join(tmpdir(), 'runbook-slice-')), 'shim');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'runbook'), `#!${process.execPath}\nprocess.stdout.write(JSON.stringify(process.argv.slice(2)))\n`);
  chmodSync(join(bin, 'runbook'), 0o755);
  const r = spawnSync('sh', ['-c', script], { env: { PATH: `${bin}:/usr/bin:/bin`, ...env }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

/** Every --option the example passes exists on `runbook apply`. */
function assertKnownOptions(args: string[]): void {
  const help = spawnSync(process.execPath, [CLI, 'apply', '--help'], { encoding: 'utf8' }).stdout;
  for (const a of args.filter((x) => x.startsWith('--'))) assert.ok(help.includes(a), `${a} is not an option of runbook apply`);
}

test('examples: the Kubernetes Indexed Job gives pods 0..N-1 the slices 1/N..N/N', { skip }, () => {
  const docs = loadYaml(readFileSync(join(packageRoot, 'examples/schedulers/k8s-indexed-job.yaml'), 'utf8')) as {
    kind: string;
    spec: { jobTemplate: { spec: { completionMode: string; completions: number; parallelism: number; template: { spec: { containers: { command: string[]; env: { name: string; value?: string }[] }[] } } } } };
  };
  assert.equal(docs.kind, 'CronJob');
  const job = docs.spec.jobTemplate.spec;
  assert.equal(job.completionMode, 'Indexed');
  const c = job.template.spec.containers[0]!;
  const n = Number(c.env.find((e) => e.name === 'SLICES')!.value);
  assert.equal(job.completions, n);
  assert.ok(c.env.some((e) => e.name === 'RUNBOOK_SLICE_GROUP'), 'the pods share a slice group');
  assert.deepEqual(c.command.slice(0, 2), ['sh', '-c']);
  const slices = Array.from({ length: n }, (_, i) => {
    const args = argsFromScript(c.command[2]!, { JOB_COMPLETION_INDEX: String(i), SLICES: String(n) });
    assert.equal(args[0], 'apply');
    assertKnownOptions(args);
    return args[args.indexOf('--slice') + 1];
  });
  assert.deepEqual(slices, Array.from({ length: n }, (_, i) => `${i + 1}/${n}`));
});

test('examples: the CI matrix lists slices 1..N and passes --slice K/N', { skip }, () => {
  const wf = loadYaml(readFileSync(join(packageRoot, 'examples/schedulers/ci-matrix-slices.yaml'), 'utf8')) as {
    jobs: Record<string, { strategy: { matrix: { slice: number[] } }; steps: { run?: string }[] }>;
  };
  const job = wf.jobs['cert-check']!;
  const values = job.strategy.matrix.slice;
  const n = values.length;
  assert.deepEqual(values, Array.from({ length: n }, (_, i) => i + 1));
  const apply = job.steps.map((s) => s.run ?? '').find((r) => r.includes(' apply '))!;
  assert.ok(apply.includes(`--slice \${{ matrix.slice }}/${n}`), apply);
  const seen = values.map((k) => {
    const args = argsFromScript(apply.replace('node dist/src/cli/main.js', 'runbook').replace(/\$\{\{ matrix\.slice \}\}/g, String(k)).replace(/>.*$/, ''), {});
    assertKnownOptions(args);
    return args[args.indexOf('--slice') + 1];
  });
  assert.deepEqual(seen, values.map((k) => `${k}/${n}`));
});
