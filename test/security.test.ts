/**
 * Security against real OpenSSH hosts on loopback (the lab, 127.1.220.x): host key pinning,
 * secrets that never leave the process in clear, arguments that never become shell syntax,
 * backups that cannot restore outside what they backed up, owner-only state files, and a sudo
 * password that is never in any process's argv.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabHost } from '../src/lab/hosts.js';
import { applyCmd } from '../src/cli/apply.js';
import { planCmd } from '../src/cli/plan.js';
import { rollbackCmd } from '../src/cli/rollback.js';
import { SshTransport } from '../src/transport/ssh.js';
import { Capture } from './support/capture.js';
import { cmdOptions as base, dir, lab, snapshot, stateDir, useLab } from './support/lab.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** RELIABILITY_OUT=file: one JSON line per attack tried (scripts/reliability.mjs reads them). */
function record(what: string, tries: number, detail: string): void {
  const out = process.env.RELIABILITY_OUT;
  if (out) appendFileSync(out, JSON.stringify({ suite: 'security', case: what, tries, survived: tries, bytesLost: 0, detail }) + '\n');
}

const skip = useLab({
  start: { count: 3, firstAddress: '127.1.220.1', namePrefix: 'sec' },
  tmp: 'runbook-security-',
});

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Every regular file under a local directory. */
function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
    else if (st.isFile()) out.push(p);
  };
  if (existsSync(root)) walk(root);
  return out;
}

// ---------------------------------------------------------------- secrets

const TOKEN = `CANARY-tok'en "q" $x 7f3a`; // quotes and $: the shell-quoted form differs from the value
const DBPASS = 'CANARY-db-2c91e';
const DBPASS2 = 'CANARY-db-second-55aa';

const SECRET_RB = `apiVersion: runbook/v1
name: sec-canary
hosts: all
on_failure: rollback
secrets: [api_token, db_pass]
vars:
  api_token: ${JSON.stringify(TOKEN)}
  dir: /etc/kubernetes/sec
steps:
  - name: Back up
    backup: { paths: ["{{ dir }}"], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Directory
    file: { path: "{{ dir }}", state: directory, mode: "0755" }
  - name: Token file
    copy: { dest: "{{ dir }}/token", content: "{{ api_token }}\\n", mode: "0600" }
  - name: Database config (world-readable, so its old content could go into an undo record)
    copy: { dest: "{{ dir }}/db.conf", content: "password={{ db_pass }}\\n", mode: "0644" }
  - name: The token as an argument
    command: { argv: [printf, "%s\\n", "--token={{ api_token }}", "{{ db_pass }}"], changed_when: false }
    register: echoed
  - name: The password in the environment, echoed on stderr
    shell: { script: 'printf "%s\\n" "$T" >&2', env: { T: "{{ db_pass }}" }, changed_when: false }
  - name: The register holds the token
    assert: { that: ["echoed.stdout.contains(api_token)"], fail_msg: "no {{ api_token }} in {{ echoed.stdout }}" }
  - name: A failing command that prints the token
    command: { argv: [sh, -c, 'echo "bad $1" >&2; exit 3', sh, "--token={{ api_token }}"], changed_when: false }
    ignore_errors: true
`;

/** The ways a secret can be written: as is, shell-quoted, JSON-escaped, base64. */
function forms(secret: string): string[] {
  const quoted = secret.replace(/'/g, `'\\''`);
  return [secret, quoted, JSON.stringify(secret).slice(1, -1), Buffer.from(secret).toString('base64'), Buffer.from(`password=${secret}\n`).toString('base64')];
}

function assertNoCanary(where: string, text: string, secrets: string[]): void {
  for (const s of secrets) {
    for (const f of forms(s)) assert.ok(!text.includes(f), `${where} contains the secret ${JSON.stringify(s)} (as ${JSON.stringify(f)})`);
  }
  assert.ok(!/CANARY/.test(text), `${where} contains a canary: ${text.slice(Math.max(0, text.indexOf('CANARY') - 80), text.indexOf('CANARY') + 80)}`);
}

test('a secret var, an -e @file secret and a rotated secret never appear in output, --json, the journal, a saved plan or a manifest', { skip }, async () => {
  const rb = file('secret.yaml', SECRET_RB);
  const sec1 = file('secrets1.yaml', `db_pass: ${JSON.stringify(DBPASS)}\n`);
  const sec2 = file('secrets2.yaml', `db_pass: ${JSON.stringify(DBPASS2)}\n`);
  const planFile = join(dir, 'secret-plan.json');
  const outputs: [string, string][] = [];
  const keep = (what: string, o: { stdout: Capture; stderr: Capture }) => outputs.push([`${what} stdout`, o.stdout.text], [`${what} stderr`, o.stderr.text]);

  const p = base({ runbook: rb, extraVars: [`@${sec1}`], out: planFile });
  assert.equal((await planCmd(p)).exitCode, 2, p.stdout.text + p.stderr.text);
  keep('plan', p);
  const pj = base({ runbook: rb, extraVars: [`@${sec1}`], json: true });
  await planCmd(pj);
  keep('plan --json', pj);
  const a = base({ runbook: rb, extraVars: [`@${sec1}`] });
  const ra = await applyCmd(a);
  keep('apply', a);
  assert.equal(ra.exitCode, 0, a.stdout.text + a.stderr.text);
  for (const h of lab.hosts) assert.equal(readFileSync(lab.hostPath(h, '/etc/kubernetes/sec/token'), 'utf8'), `${TOKEN}\n`, 'the secret did reach the host');
  // rotate the password: db.conf (0644) changes, its old content is the old secret
  const aj = base({ runbook: rb, extraVars: [`@${sec2}`], json: true });
  const rj = await applyCmd(aj);
  keep('apply --json', aj);
  assert.equal(rj.exitCode, 0, aj.stdout.text);
  assert.match(aj.stdout.text, /"kind":"step-end"/);
  const rbk = base({ id: rj.result!.runId, json: true, extraVars: [`@${sec2}`] });
  const rr = await rollbackCmd(rbk);
  keep('rollback --json', rbk);
  assert.equal(rr.exitCode, 0, rbk.stdout.text);
  for (const h of lab.hosts) assert.equal(readFileSync(lab.hostPath(h, '/etc/kubernetes/sec/db.conf'), 'utf8'), `password=${DBPASS}\n`, 'rolled back');

  const all = [TOKEN, DBPASS, DBPASS2];
  for (const [w, t] of outputs) assertNoCanary(w, t, all);
  assert.match(outputs[0]![1], /\*\*\*/, 'the plan shows *** where the secret was');
  assertNoCanary('saved plan', readFileSync(planFile, 'utf8'), all);
  const journals = filesUnder(stateDir);
  assert.ok(journals.length >= 2);
  for (const j of journals) assertNoCanary(`journal ${j}`, readFileSync(j, 'utf8'), all);
  for (const h of lab.hosts) {
    const manifests = filesUnder(lab.hostPath(h, '/var/backups')).filter((f) => f.endsWith('/manifest.json'));
    assert.ok(manifests.length >= 1, `${h.name} has backups`);
    for (const m of manifests) assertNoCanary(`manifest ${m}`, readFileSync(m, 'utf8'), all);
  }
  record('secret canaries (runbook var, -e @file, rotated value) searched in output, --json, journal, saved plan, manifests', 3, '6 commands run; 5 encodings searched (plain, shell-quoted, JSON, base64)');
});

// ---------------------------------------------------------------- arguments stay arguments

const ARGDUMP = `#!/bin/sh
# one record per call: the argument count, then every argument, NUL-terminated
printf '%s\\0' "$#" "$@" >> /root/argdump.out
`;

const EVIL = [
  '$(touch /tmp/pwned)',
  '`touch /tmp/pwned`',
  '; touch /tmp/pwned',
  "'; touch /tmp/pwned; '",
  '"; touch /tmp/pwned; "',
  'a\ntouch /tmp/pwned',
  '\ntouch /tmp/pwned\n',
  '&& touch /tmp/pwned #',
  '| touch /tmp/pwned',
  '> /tmp/pwned',
  '-rf',
  '--help',
  '-',
  '*',
  '~root',
  '$HOME',
  'A=b',
  '\\',
  ' leading and trailing ',
  '{a,b}',
  '\u00e9t\u00e9 \u2603',
];
/** usable as file names too */
const NAMES = EVIL.filter((n) => !n.includes('/') && n !== '-' && !n.includes('\\'));

const META_RB = `apiVersion: runbook/v1
name: sec-meta
hosts: all
on_failure: rollback
vars:
  fail: "no"
steps:
  - name: Back up the tree
    backup: { paths: [/tmp/meta, /root/argdump.out], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Directory
    file: { path: /tmp/meta, state: directory, mode: "0755" }
  - name: Files with odd names
    copy: { dest: "/tmp/meta/f{{ item }}", content: "{{ item }}" }
    loop: "{{ names }}"
  - name: Directories with odd names
    file: { path: "/tmp/meta/{{ item }}", state: directory }
    loop: "{{ names }}"
  - name: Every value as one argument
    command: { argv: [/usr/local/sbin/argdump, "{{ item }}", "{{ inventory_hostname }}", "x{{ item }}"], writes: [/root/argdump.out] }
    loop: "{{ evil }}"
  - name: Through a shell's positional parameters and the environment
    shell: { script: '/usr/local/sbin/argdump "$1" "$V"', args: ["{{ item }}"], env: { V: "{{ item }}" }, writes: [/root/argdump.out] }
    loop: "{{ evil }}"
  - name: Fail when asked
    command: { argv: [sh, -c, 'test "$1" != yes', sh, "{{ fail }}"], changed_when: false }
`;

function argRecords(h: LabHost): string[][] {
  const p = lab.hostPath(h, '/root/argdump.out');
  if (!existsSync(p)) return [];
  const fields = readFileSync(p, 'utf8').split('\0');
  fields.pop();
  const out: string[][] = [];
  for (let i = 0; i < fields.length; ) {
    const n = Number(fields[i]);
    out.push(fields.slice(i + 1, i + 1 + n));
    i += 1 + n;
  }
  return out;
}

test('shell metacharacters, newlines and leading dashes in variables, host names and file names stay literal', { skip }, async () => {
  for (const h of lab.hosts) {
    writeFileSync(lab.hostPath(h, '/usr/local/sbin/argdump'), ARGDUMP, { mode: 0o755 });
    rmSync(lab.hostPath(h, '/root/argdump.out'), { force: true });
  }
  // inventory names that start with dashes (the schema allows them)
  const names = ['-rf', '--help', '-sec.dash_3'];
  const invDash = file(
    'inventory-dash.yaml',
    `all:\n  vars:\n    ansible_ssh_private_key_file: ${lab.privateKeyPath}\n    runbook_known_hosts: ${lab.knownHostsPath}\n  hosts:\n` +
      lab.hosts.map((h, i) => `    ${JSON.stringify(names[i])}: { ansible_host: ${h.address}, ansible_user: root }\n`).join(''),
  );
  const rb = file('meta.yaml', META_RB);
  const vars = file('meta-vars.yaml', JSON.stringify({ evil: EVIL, names: NAMES }));
  const o = base({ runbook: rb, inventory: invDash, extraVars: [`@${vars}`] });
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 0, o.stdout.text + o.stderr.text);
  lab.hosts.forEach((h, i) => {
    const recs = argRecords(h);
    const want = [...EVIL.map((e) => [e, names[i]!, `x${e}`]), ...EVIL.map((e) => [e, e])];
    assert.deepEqual(recs, want, `${h.name}: every value arrived as exactly one argument`);
    for (const n of NAMES) {
      assert.equal(readFileSync(lab.hostPath(h, `/tmp/meta/f${n}`), 'utf8'), n, `file f${JSON.stringify(n)}`);
      assert.ok(statSync(lab.hostPath(h, `/tmp/meta/${n}`)).isDirectory(), `dir ${JSON.stringify(n)}`);
    }
    assert.equal(existsSync(lab.hostPath(h, '/tmp/pwned')), false, `${h.name}: nothing ran`);
  });
  // a failing run with the same odd names rolls back byte-identical
  const before = lab.hosts.map((h) => snapshot(h, ['/tmp/meta']));
  for (const h of lab.hosts) for (const n of NAMES) writeFileSync(lab.hostPath(h, `/tmp/meta/f${n}`), 'changed by hand\n');
  const beforeHand = lab.hosts.map((h) => snapshot(h, ['/tmp/meta']));
  assert.notDeepEqual(beforeHand, before);
  const f = base({ runbook: rb, inventory: invDash, extraVars: [`@${vars}`, 'fail=yes'] });
  const rf = await applyCmd(f);
  assert.equal(rf.exitCode, 6, f.stdout.text);
  lab.hosts.forEach((h, i) => assert.deepEqual(snapshot(h, ['/tmp/meta']), beforeHand[i], `${h.name} restored byte-identical`));
  for (const h of lab.hosts) assert.equal(existsSync(lab.hostPath(h, '/tmp/pwned')), false);
  // a host name the schema refuses is a positioned diagnostic, not a crash
  const bad = file('inventory-bad.yaml', `all:\n  hosts:\n    "a;touch /tmp/pwned": { ansible_host: 127.1.220.1 }\n`);
  const b = base({ runbook: rb, inventory: bad, extraVars: [`@${vars}`] });
  const rb2 = await applyCmd(b).catch((e: Error) => ({ exitCode: -1, error: e }));
  assert.ok(rb2.exitCode === 3 || rb2.exitCode === -1, String(rb2.exitCode));
  if (rb2.exitCode === 3) assert.match(b.stderr.text, /inventory-bad\.yaml:3:\d+:/);
  record('shell metacharacters, newlines, leading dashes as variables, host names, file names', EVIL.length * 2 * 3 + NAMES.length * 2 * 3 + 3, `${EVIL.length} values × argv/shell args/env on 3 hosts, ${NAMES.length} file and dir names, 3 dash host names; /tmp/pwned never created`);
});

// ---------------------------------------------------------------- backups cannot escape

const TAMPER_RB = `apiVersion: runbook/v1
name: sec-tamper
hosts: all
on_failure: stop
steps:
  - name: Back up
    backup: { paths: [/etc/kubernetes/tamper], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Change a file
    copy: { dest: /etc/kubernetes/tamper/a.conf, content: "changed\\n" }
  - name: Then fail (no automatic rollback)
    command: { argv: [sh, -c, 'exit 9'], changed_when: false }
`;

test('a manifest edited to reach outside, or a symlink escaping the backup, is refused and nothing is touched', { skip }, async () => {
  const h = lab.hosts[0]!;
  const setup = () => {
    for (const x of lab.hosts) {
      rmSync(lab.hostPath(x, '/etc/kubernetes/tamper'), { recursive: true, force: true });
      mkdirSync(lab.hostPath(x, '/etc/kubernetes/tamper/sub'), { recursive: true });
      writeFileSync(lab.hostPath(x, '/etc/kubernetes/tamper/a.conf'), 'original\n');
      writeFileSync(lab.hostPath(x, '/etc/kubernetes/tamper/sub/b.conf'), 'original b\n');
      writeFileSync(lab.hostPath(x, '/root/outside'), 'must survive\n', { mode: 0o600 });
    }
  };
  const rb = file('tamper.yaml', TAMPER_RB);
  type Edit = (backup: string, manifest: { roots: { path: string; existed: boolean }[]; entries: Record<string, unknown>[] }) => void;
  const cases: [string, Edit, RegExp][] = [
    ['an entry path with ..', (_b, m) => void m.entries.push({ path: '/etc/kubernetes/tamper/../../../root/outside', type: 'file', size: 1, mode: 0o644, uid: 0, gid: 0, sha256: 'a'.repeat(64) }), /refusing this manifest.*\.\./],
    ['an entry outside the roots', (_b, m) => void m.entries.push({ path: '/root/outside', type: 'file', size: 1, mode: 0o644, uid: 0, gid: 0, sha256: 'a'.repeat(64) }), /refusing this manifest.*outside the backed-up roots/],
    [
      'an extra root outside the backed-up paths',
      (b, m) => {
        m.roots.push({ path: '/root', existed: true });
        m.entries.push({ path: '/root', type: 'dir', size: 0, mode: 0o700, uid: 0, gid: 0 });
        mkdirSync(join(b, 'files/root'), { recursive: true, mode: 0o700 });
      },
      /\/root.*not (one of )?the paths (the run|its backup step) backed up|outside the paths/,
    ],
    [
      'a symlink entry pointing outside',
      (b, m) => {
        const e = m.entries.find((x) => x.path === '/etc/kubernetes/tamper/a.conf')!;
        Object.assign(e, { type: 'symlink', target: '/root/outside', size: 13 });
        delete e.sha256;
        unlinkSync(join(b, 'files/etc/kubernetes/tamper/a.conf'));
        symlinkSync('/root/outside', join(b, 'files/etc/kubernetes/tamper/a.conf'));
      },
      /symlink .*points outside/,
    ],
    [
      'a directory of the copy swapped for a symlink to /root',
      (b) => {
        rmSync(join(b, 'files/etc/kubernetes/tamper/sub'), { recursive: true });
        symlinkSync('/root', join(b, 'files/etc/kubernetes/tamper/sub'));
      },
      /does not match its manifest/,
    ],
  ];
  for (const [what, edit, why] of cases) {
    setup();
    const o = base({ runbook: rb });
    const r = await applyCmd(o);
    assert.equal(r.exitCode, 4, `${what}: ${o.stdout.text}`);
    const runId = r.result!.runId;
    const backup = lab.hostPath(h, `/var/backups/runbook/${runId}`);
    const mf = join(backup, 'manifest.json');
    const manifest = JSON.parse(readFileSync(mf, 'utf8'));
    edit(backup, manifest);
    writeFileSync(mf, JSON.stringify(manifest));
    const before = snapshot(h, ['/etc/kubernetes', '/root']);
    const rr = await rollbackCmd(base({ id: runId, limit: h.name }));
    const row = rr.recap.find((x) => x.host === h.name)!;
    assert.equal(row.status, 'rollback-failed', `${what}: ${JSON.stringify(row)}`);
    assert.equal(rr.exitCode, 4);
    assert.match(row.message ?? '', why, what);
    assert.deepEqual(snapshot(h, ['/etc/kubernetes', '/root']), before, `${what}: nothing was touched`);
    assert.equal(readFileSync(lab.hostPath(h, '/root/outside'), 'utf8'), 'must survive\n');
    // the other hosts' untouched backups still restore
    const others = await rollbackCmd(base({ id: runId, limit: lab.hosts.slice(1).map((x) => x.name).join(',') }));
    assert.equal(others.exitCode, 0, `${what}: ${JSON.stringify(others.recap)}`);
    for (const x of lab.hosts.slice(1)) assert.equal(readFileSync(lab.hostPath(x, '/etc/kubernetes/tamper/a.conf'), 'utf8'), 'original\n');
  }
  record('edited backup manifests (.., outside path, extra root, outside symlink, swapped dir symlink) given to rollback', cases.length, 'each refused before any change; nothing outside touched');
});

// ---------------------------------------------------------------- owner-only files

test('journals, plans and backups are readable only by their owner', { skip }, async () => {
  const fresh = join(dir, 'fresh-state', 'nested');
  const rb = file('modes.yaml', TAMPER_RB.replace('on_failure: stop', 'on_failure: rollback').replace("argv: [sh, -c, 'exit 9']", "argv: [sh, -c, 'exit 0']"));
  for (const x of lab.hosts) writeFileSync(lab.hostPath(x, '/etc/kubernetes/tamper/a.conf'), 'modes\n');
  // a plan file that already exists with a wider mode is narrowed
  const planFile = join(dir, 'modes-plan.json');
  writeFileSync(planFile, '{}', { mode: 0o644 });
  chmodSync(planFile, 0o644);
  const oldUmask = process.umask(0o022);
  try {
    const p = base({ runbook: rb, stateDir: fresh, out: planFile });
    assert.equal((await planCmd(p)).exitCode, 2, p.stdout.text);
    assert.equal(statSync(planFile).mode & 0o777, 0o600, 'saved plan');
    const a = base({ runbook: rb, stateDir: fresh });
    const r = await applyCmd(a);
    assert.equal(r.exitCode, 0, a.stdout.text);
    assert.equal(statSync(fresh).mode & 0o777, 0o700, 'state dir');
    assert.equal(statSync(join(fresh, 'runs')).mode & 0o777, 0o700, 'runs dir');
    for (const j of filesUnder(fresh)) assert.equal(statSync(j).mode & 0o777, 0o600, j);
    for (const h of lab.hosts) {
      const b = lab.hostPath(h, `/var/backups/runbook/${r.result!.runId}`);
      assert.equal(statSync(b).mode & 0o777, 0o700, `${h.name} backup dir`);
      assert.equal(statSync(join(b, 'manifest.json')).mode & 0o777, 0o600, `${h.name} manifest`);
      // the directories the backup made around the copy; the copy itself keeps the original modes (restore is byte- and mode-identical)
      for (const d of ['files', 'files/etc', 'files/etc/kubernetes']) assert.equal(statSync(join(b, d)).mode & 0o777, 0o700, `${h.name} ${d}`);
      assert.equal(statSync(lab.hostPath(h, '/var/backups/runbook')).mode & 0o077, 0, `${h.name} /var/backups/runbook`);
    }
  } finally {
    process.umask(oldUmask);
  }
  record('journal, plan and backup modes (umask 022, pre-existing 0644 plan file)', 4, 'state dir, runs dir, journals, plan 0600/0700; backup dir, manifest, copy dirs 0600/0700');
});

// ---------------------------------------------------------------- sudo

const SUDO_PW = 'CANARY-sudo-pw-9d41';
const SUDO_RB = `apiVersion: runbook/v1
name: sec-sudo
hosts: all
steps:
  - name: Who am I, slowly (the process list is searched meanwhile)
    command: [sh, -c, 'id -u > /root/whoami; sleep 3']
  - name: A file written as root through sudo
    copy: { dest: /etc/kubernetes/sudo.conf, content: "as root\\n", mode: "0600" }
`;

function nsenter(pid: number, script: string, ...args: string[]): void {
  const r = spawnSync('nsenter', ['-t', String(pid), '-m', 'sh', '-c', script, 'sh', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `nsenter: ${r.stderr}`);
}

/** Poll until `user` can log in to h (after a SIGHUP); the key sshd serves then. */
async function waitForSshd(h: LabHost, user: string): Promise<string> {
  const probe = join(dir, `kh-probe-${h.name}`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    writeFileSync(probe, '');
    try {
      const t = await SshTransport.connect({ host: h.address, user, privateKeyPath: lab.privateKeyPath, knownHostsPath: probe, hostKeyPolicy: 'accept-new', connectTimeoutMs: 5000 });
      await t.close();
      return readFileSync(probe, 'utf8');
    } catch {
      /* restarting */
    }
    assert.ok(Date.now() < deadline, `sshd of ${h.name} accepts ${user} again`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const haveSudo = spawnSync('sh', ['-c', 'command -v sudo && command -v nsenter && command -v openssl']).status === 0;

test('the sudo password is sent on stdin only: never in argv, the process list, output or the journal', { skip: skip || (haveSudo ? false : 'sudo, nsenter or openssl not installed') }, async () => {
  const h = lab.hosts[1]!;
  const hash = spawnSync('openssl', ['passwd', '-6', '-salt', 'runbooklab', SUDO_PW], { encoding: 'utf8' }).stdout.trim();
  assert.match(hash, /^\$6\$/);
  // a user `deploy` who may sudo with a password, inside this host's own /etc (an overlay)
  nsenter(
    h.pid,
    [
      'grep -q "^deploy:" /etc/passwd || {',
      '  echo "deploy:x:1500:1500:runbook lab:/tmp:/bin/sh" >> /etc/passwd',
      '  echo "deploy:x:1500:" >> /etc/group',
      '  echo "deploy:$1:19000:0:99999:7:::" >> /etc/shadow',
      '}',
      'mkdir -p /etc/sudoers.d',
      'echo "deploy ALL=(ALL:ALL) ALL" > /etc/sudoers.d/runbook-lab',
      'chmod 0440 /etc/sudoers.d/runbook-lab',
      // the lab's authorized_keys is in its 0700 dir, which deploy cannot read: a copy for deploy
      'mkdir -p /etc/runbook-lab-deploy',
      'cp /run/runbook-lab/authorized_keys /etc/runbook-lab-deploy/authorized_keys',
      'chmod 755 /etc/runbook-lab-deploy; chmod 644 /etc/runbook-lab-deploy/authorized_keys',
    ].join('\n'),
    hash,
  );
  const cfg = join(lab.dir, 'hosts', h.name, 'sshd_config');
  if (!readFileSync(cfg, 'utf8').includes('Match User deploy')) {
    writeFileSync(cfg, readFileSync(cfg, 'utf8') + 'Match User deploy\n  AuthorizedKeysFile /etc/runbook-lab-deploy/authorized_keys\n');
    process.kill(h.pid, 'SIGHUP'); // sshd re-executes itself with the new config, same PID
    await waitForSshd(h, 'deploy');
  }
  const invSudo = file(
    'inventory-sudo.yaml',
    `all:\n  vars:\n    ansible_ssh_private_key_file: ${lab.privateKeyPath}\n    runbook_known_hosts: ${lab.knownHostsPath}\n  hosts:\n    ${h.name}: { ansible_host: ${h.address}, ansible_user: deploy, ansible_become: true }\n`,
  );
  const rb = file('sudo.yaml', SUDO_RB);
  rmSync(lab.hostPath(h, '/root/whoami'), { force: true });
  const sudoState = join(dir, 'sudo-state');
  const child = spawn(process.execPath, [MAIN, 'apply', rb, '-i', invSudo, '--state-dir', sudoState, '-K', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUNBOOK_BECOME_PASSWORD: SUDO_PW },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  let done = false;
  void exited.then(() => (done = true));
  // search every process's argv while the run is going on (sudo, sh, sshd sessions, the runner)
  let scans = 0;
  let sawSleep = false;
  const leaks: string[] = [];
  while (!done) {
    for (const ent of readdirSync('/proc')) {
      if (!/^\d+$/.test(ent)) continue;
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${ent}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmdline.includes(SUDO_PW)) leaks.push(`${ent}: ${cmdline.replace(/\0/g, ' ')}`);
      if (cmdline.includes('sleep\u00003')) sawSleep = true;
    }
    scans++;
    await new Promise((r) => setTimeout(r, 25));
  }
  const code = await exited;
  assert.equal(code, 0, out + err);
  assert.ok(sawSleep && scans > 5, `the process list was searched while the step ran (${scans} scans)`);
  assert.deepEqual(leaks, []);
  assert.equal(readFileSync(lab.hostPath(h, '/root/whoami'), 'utf8').trim(), '0', 'the command ran as root through sudo');
  assert.equal(readFileSync(lab.hostPath(h, '/etc/kubernetes/sudo.conf'), 'utf8'), 'as root\n');
  assert.equal(statSync(lab.hostPath(h, '/etc/kubernetes/sudo.conf')).uid, 0);
  assertNoCanary('sudo run output', out + err, [SUDO_PW]);
  for (const j of filesUnder(sudoState)) assertNoCanary(`journal ${j}`, readFileSync(j, 'utf8'), [SUDO_PW]);
  // the password in the inventory (ansible_become_password) is a secret too
  const invPw = file('inventory-sudo-pw.yaml', readFileSync(invSudo, 'utf8').replace('ansible_become: true }', `ansible_become: true, ansible_become_password: ${SUDO_PW} }`));
  const o = base({ runbook: rb, inventory: invPw, stateDir: sudoState, json: true });
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 0, o.stdout.text + o.stderr.text);
  assertNoCanary('apply output (inventory password)', o.stdout.text + o.stderr.text, [SUDO_PW]);
  for (const j of filesUnder(sudoState)) assertNoCanary(`journal ${j}`, readFileSync(j, 'utf8'), [SUDO_PW]);
  record('sudo password (-K and inventory ansible_become_password) searched in every process argv, output, journal', scans + 2, `${scans} scans of /proc/*/cmdline during the run`);
});

// ---------------------------------------------------------------- host keys (last: it changes a host's key)

const KEY_RB = `apiVersion: runbook/v1
name: sec-keys
hosts: all
steps:
  - name: Touch a marker
    command: { argv: [touch, /root/keys-marker], creates: /root/keys-marker }
`;

test('host keys: unknown refused by default, --accept-new records, a regenerated key is always refused', { skip }, async () => {
  const rb = file('keys.yaml', KEY_RB);
  const before = lab.hosts.map((h) => snapshot(h, ['/root']));
  const empty = file('kh-empty', '');
  const r = await applyCmd(base({ runbook: rb, knownHosts: empty }));
  assert.equal(r.exitCode, 5);
  for (const row of r.result!.recap) assert.match(`${row.status} ${row.message}`, /^unreachable host key for .* is not in .*--accept-new/);
  lab.hosts.forEach((h, i) => assert.deepEqual(snapshot(h, ['/root']), before[i], 'nothing ran'));
  assert.equal(readFileSync(empty, 'utf8'), '', 'a refused key is not recorded');

  const fresh = file('kh-fresh', '');
  const a = base({ runbook: rb, knownHosts: fresh, acceptNew: true });
  assert.equal((await applyCmd(a)).exitCode, 0, a.stdout.text);
  const labKeys = readFileSync(lab.knownHostsPath, 'utf8').trim().split('\n').map((l) => l.split(' ').slice(1, 3).join(' ')).sort();
  const recorded = readFileSync(fresh, 'utf8').trim().split('\n').map((l) => l.split(' ').slice(1, 3).join(' ')).sort();
  assert.deepEqual(recorded, labKeys, 'accept-new recorded exactly the hosts\' keys');
  const s = base({ runbook: rb, knownHosts: fresh });
  assert.equal((await applyCmd(s)).exitCode, 0, 'the recorded keys are trusted afterwards');

  // regenerate host 3's key and make its sshd reload (SIGHUP: it re-executes itself, same PID)
  const h = lab.hosts[2]!;
  const keyFile = join(lab.dir, 'hosts', h.name, 'ssh_host_ed25519_key');
  rmSync(keyFile, { force: true });
  rmSync(keyFile + '.pub', { force: true });
  assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]).status, 0);
  const newKey = readFileSync(keyFile + '.pub', 'utf8').split(' ').slice(0, 2).join(' ');
  process.kill(h.pid, 'SIGHUP');
  const deadline = Date.now() + 30_000;
  while (!(await waitForSshd(h, 'root')).includes(newKey)) {
    assert.ok(Date.now() < deadline, 'sshd serves the new key');
    await new Promise((r) => setTimeout(r, 100));
  }
  const pinned = readFileSync(fresh, 'utf8');
  for (const acceptNew of [false, true]) {
    const o = base({ runbook: rb, knownHosts: fresh, ...(acceptNew ? { acceptNew } : {}) });
    const rc = await applyCmd(o);
    assert.equal(rc.exitCode, 5, o.stdout.text);
    const row = rc.result!.recap.find((x) => x.host === h.name)!;
    assert.equal(row.status, 'unreachable');
    assert.match(row.message ?? '', /HOST KEY CHANGED .*man-in-the-middle/);
    for (const x of rc.result!.recap.filter((x) => x.host !== h.name)) assert.equal(x.status, 'ok');
    assert.equal(readFileSync(fresh, 'utf8'), pinned, 'known_hosts untouched');
  }
  record('host keys: unknown, --accept-new, regenerated key (with and without --accept-new)', 3 + 2 * 3, 'unknown refused on 3 hosts, recorded with --accept-new, changed key refused twice');
});
