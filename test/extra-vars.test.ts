// -e key=value against the types the runbook declares (src/runbook/extra-var-types.ts), through the
// real CLI: validate on the shipped runbooks as their docs use them, plan refusing before it
// connects, rollback reading -e the same way, and a run-time type error on a variable the runbook
// declares no type for. No lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';
import { runProcess } from './support/run.js';

const MAIN = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
const RUNBOOKS = ['runbooks/cert-renew.yaml', 'runbooks/kubelet-recover.yaml'];
const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const cli = (...args: string[]) => runProcess(process.execPath, [MAIN, ...args], { cwd: packageRoot });

test('validate: the -e values docs/cert-renew.md and docs/kubelet-recover.md give are valid; force=maybe is not', async () => {
  // as the docs write them: -e force=true, -e fetch_admin_conf=true; renew_within is a string var and stays one
  const ok = await cli('validate', ...RUNBOOKS, '-e', 'force=true', '-e', 'fetch_admin_conf=true', '-e', 'renew_within=45d');
  assert.equal(ok.code, 0, ok.out);
  for (const f of RUNBOOKS) assert.match(ok.out, new RegExp(`^${f}: valid runbook$`, 'm'));
  assert.equal((await cli('validate', RUNBOOKS[1]!, '-e', 'force=yes')).code, 0);

  const bad = await cli('validate', ...RUNBOOKS, '-e', 'force=maybe');
  assert.equal(bad.code, 3, bad.out);
  for (const f of RUNBOOKS) {
    assert.match(bad.out, new RegExp(`^${f}: -e force=maybe: force is a boolean in ${f}:\\d+:3 \\(default false\\): give true or false`, 'm'));
    assert.doesNotMatch(bad.out, new RegExp(`^${f}: valid runbook$`, 'm'));
  }
  // typed values: {mapping} keeps its types; a quoted "true" for a boolean is refused
  assert.equal((await cli('validate', RUNBOOKS[0]!, '-e', '{"force": true, "api_port": 443}')).code, 0);
  const quoted = await cli('validate', '--json', RUNBOOKS[0]!, '-e', '{"force": "true"}');
  assert.equal(quoted.code, 3);
  const json = JSON.parse(quoted.out) as { valid: boolean; diagnostics: { kind: string; file: string; message: string }[] };
  assert.equal(json.valid, false);
  assert.deepEqual(
    json.diagnostics.map((d) => [d.kind, d.file]),
    [['usage', RUNBOOKS[0]]],
  );
  assert.match(json.diagnostics[0]!.message, /force is a boolean in runbooks\/cert-renew\.yaml:\d+:3 \(default false\), not the string "true": write true or false, without quotes/);
});

test('plan and apply refuse a -e value that does not fit its declared type before they connect', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-extra-vars-'));
  try {
    // 192.0.2.1 (TEST-NET-1) is never reached: the refusal comes first
    for (const cmd of ['plan', 'apply']) {
      const r = await cli(cmd, RUNBOOKS[0]!, '--hosts', '192.0.2.1', '--state-dir', dir, '-e', 'force=maybe', '-e', 'api_port=https');
      assert.equal(r.code, 3, r.out);
      assert.match(r.out, /^-e force=maybe: force is a boolean in runbooks\/cert-renew\.yaml:\d+:3 \(default false\): give true or false/m);
      assert.match(r.out, /^-e api_port=https: api_port is an integer in runbooks\/cert-renew\.yaml:\d+:3 \(default 6443\): give a whole number$/m);
      assert.doesNotMatch(r.out, /192\.0\.2\.1|unreachable|run \d{8}T/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a runbook var with a boolean default takes -e x=true; one with no default fails where the step is written, saying why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-extra-vars-'));
  try {
    writeFileSync(join(dir, 'inventory.yaml'), 'all:\n  hosts:\n    box:\n      ansible_connection: local\n');
    const rb = join(dir, 'rb.yaml');
    writeFileSync(
      rb,
      'apiVersion: runbook/v1\nname: typed\nhosts: all\nvars:\n  force: false\n  flag: null\nsteps:\n  - name: Decide\n    set_fact:\n      go: "{{ force || false }}"\n  - name: Undeclared\n    set_fact:\n      go2: "{{ flag || false }}"\n',
    );
    const run = (...e: string[]) => cli('apply', rb, '-i', join(dir, 'inventory.yaml'), '--state-dir', join(dir, 'state'), ...e.flatMap((x) => ['-e', x]));
    const ok = await run('force=true', 'flag=no');
    // flag has no declared type: "no" stays the string "no", which CEL cannot use as a boolean
    assert.equal(ok.code, 4, ok.out);
    assert.match(ok.out, /ok\s+1\/2 Decide/);
    assert.match(ok.out, new RegExp(`\`flag \\|\\| false\` failed: Logical operator requires bool operands, got 'string', in the step at ${escaped(rb)}:11:5 \\(flag is the string "no": a -e key=value is a string unless the runbook declares flag under vars: with a boolean default \\(flag: false\\); or give it typed: -e '\\{"flag": false\\}'\\)`));
    const typed = await run('force=true', '{"flag": false}');
    assert.equal(typed.code, 0, typed.out);
    // rollback (and resume) read -e against the run's runbook the same way
    const id = /run (\d{8}T\d{6}Z-[0-9a-f]+)/.exec(typed.out)![1]!;
    const back = (e: string) => cli('rollback', id, '--state-dir', join(dir, 'state'), '-e', e);
    const refused = await back('force=maybe');
    assert.equal(refused.code, 3, refused.out);
    assert.match(refused.out, new RegExp(`^runbook: -e force=maybe: force is a boolean in ${escaped(rb)}:5:3 \\(default false\\): give true or false`, 'm'));
    assert.equal((await back('force=off')).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
