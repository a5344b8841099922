/**
 * Logins whose shell is not POSIX, on real sshd hosts: the lab user ops2 (NOPASSWD sudo,
 * src/lab/users.ts) gets the real fish on one host and the real tcsh on another; the third keeps
 * /bin/sh. sshd runs every command as `LOGIN_SHELL -c LINE`. Undeclared, such a host refuses every
 * command with an error that says what to set, and nothing of the command runs (fish would exit 0,
 * tcsh would run part of it); with `ansible_shell_type`, a runbook applies there as anywhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabHost } from '../src/lab/hosts.js';
import { addLabUsers } from '../src/lab/users.js';
import { SshTransport } from '../src/transport/ssh.js';
import { isUserError } from '../src/errors.js';
import { applyCmd } from '../src/cli/apply.js';
import { validateCmd } from '../src/cli/validate.js';
import { Capture } from './support/capture.js';
import { lab, sshOptions, useLab, dir } from './support/lab.js';

const SHELL_OF = ['fish', 'tcsh', 'sh'];
const TYPE_OF = ['fish', 'csh', undefined];

const skip = useLab({
  start: { count: 3, firstAddress: '127.1.208.1', namePrefix: 'ls' },
  tmp: 'access-login-shell-',
  requires: ['sudo', 'nsenter', 'openssl', 'fish', 'tcsh'],
  setup: () => {
    lab.hosts.forEach((h, i) => {
      addLabUsers(lab, h);
      const shell = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', SHELL_OF[i]!], { encoding: 'utf8' }).stdout.trim();
      // in the host's own /etc (an overlay): ops2's login shell; its home is the host's private /tmp
      const r = spawnSync('nsenter', ['-t', String(h.pid), '-m', '--', 'sh', '-c', 'sed -i "s#^\\(ops2:.*:\\)/bin/sh\\$#\\1$1#" /etc/passwd && grep "^ops2:" /etc/passwd', 'sh', shell], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(r.stdout.trim().endsWith(`:${shell}`), r.stdout);
    });
  },
});

const asOps2 = (h: LabHost, extra: Parameters<typeof sshOptions>[1] = {}) => SshTransport.connect(sshOptions(h, { user: 'ops2', ...extra }));

function inventory(declared: boolean): string {
  const hosts = lab.hosts.map((h, i) => `    ${h.name}: { ansible_host: ${h.address}, ansible_user: ops2${declared && TYPE_OF[i] ? `, ansible_shell_type: ${TYPE_OF[i]}` : ''} }`);
  return [`all:`, `  vars:`, `    ansible_ssh_private_key_file: ${lab.privateKeyPath}`, `    ansible_ssh_common_args: "-o UserKnownHostsFile=${lab.knownHostsPath}"`, `  hosts:`, ...hosts, ''].join('\n');
}

test('an undeclared fish or tcsh login shell: every command is refused, saying what to set, and none of it runs', { skip }, async () => {
  for (const h of lab.hosts.slice(0, 2)) {
    const t = await asOps2(h);
    try {
      for (const argv of [['touch', '/tmp/ran'], ['sh', '-c', 'touch /tmp/ran2']]) {
        await assert.rejects(t.exec(argv), (e: unknown) => isUserError(e) && e.kind === 'connect' && /login shell of ops2 on ls-0\d did not run runbook's command.*csh or fish login shell rejects: for one, set ansible_shell_type: csh \(or fish\)/.test(e.message));
      }
      // `echo "$$" >&2` alone would have made tcsh write a file named 2 in ops2's home
      for (const p of ['/tmp/ran', '/tmp/ran2', '/tmp/2']) assert.ok(!existsSync(lab.hostPath(h, p)), `${h.name}: ${p}`);
      // a multi-line script too: never the login shell line by line (tcsh would run the later lines)
      await assert.rejects(t.exec(['sh', '-c', 'true\ntouch /tmp/ran3']), /did not run runbook's command/);
      assert.ok(!existsSync(lab.hostPath(h, '/tmp/ran3')), h.name);
    } finally {
      await t.close();
    }
  }
  // the POSIX host: its commands go as they are; one too long for a single exec argument is refused unsent
  const t = await asOps2(lab.hosts[2]!);
  assert.equal((await t.exec(['sh', '-c', 'echo "$0"', 'posix'])).stdout, 'posix\n');
  await assert.rejects(t.exec(['printf', '%s', 'x'.repeat(140_000)]), (e: unknown) => isUserError(e) && e.kind === 'usage' && /bytes long, over the 131071 bytes Linux allows/.test(e.message));
  assert.equal((await t.exec(['true'])).code, 0, 'the connection is still usable');
  await t.close();
});

test('declared with ansible_shell_type: commands, stdin, exit codes, sudo and timeouts work as on a POSIX login', { skip }, async () => {
  for (const [i, h] of lab.hosts.slice(0, 2).entries()) {
    const t = await asOps2(h, { loginShell: TYPE_OF[i] as 'fish' | 'csh' });
    try {
      const args = ["it's", 'back\\slash', 'bang!', '$HOME', 'two\nlines'];
      const r = await t.exec(['printf', '%s|', ...args]);
      assert.equal(r.stdout, args.join('|') + '|', h.name);
      assert.equal((await t.exec(['cat'], { stdin: 'through stdin\n' })).stdout, 'through stdin\n');
      assert.equal((await t.exec(['sh', '-c', 'exit 5'])).code, 5);
      assert.equal((await t.exec(['id', '-un'], { cwd: '/tmp' })).stdout, 'ops2\n');
      const root = t.withBecome({});
      assert.equal((await root.exec(['id', '-un'])).stdout, 'root\n');
      await root.writeAtomic('/etc/kubernetes/login-shell.conf', 'by sudo\n');
      assert.equal((await root.read('/etc/kubernetes/login-shell.conf')).toString(), 'by sudo\n');
      const slow = await t.exec(['sh', '-c', 'sleep 41.5; touch /tmp/late'], { timeoutMs: 800 });
      assert.equal(slow.timedOut, true);
      await new Promise((res) => setTimeout(res, 300));
      const left = spawnSync('pgrep', ['-f', 'sleep 41.5'], { encoding: 'utf8' }).stdout.trim();
      assert.equal(left, '', `${h.name}: the timed-out command's process group was killed`);
    } finally {
      await t.close();
    }
  }
});

test('a runbook applies on fish, tcsh and sh logins alike once the inventory says which, and a second run changes nothing', { skip }, async () => {
  const inv = join(dir, 'shells.yaml');
  writeFileSync(inv, inventory(true));
  const rb = join(dir, 'shells-runbook.yaml');
  writeFileSync(
    rb,
    [
      'apiVersion: runbook/v1',
      'name: login-shells',
      'hosts: all',
      'become: true',
      'steps:',
      '  - name: a directory',
      '    file: { path: /etc/kubernetes/shells, state: directory }',
      '  - name: a file with quotes and a bang',
      '    file: { path: /etc/kubernetes/shells/it\'s!.conf, state: touch }',
      '  - name: a multi-line script',
      '    shell:',
      '      script: |',
      '        set -e',
      '        x="$(id -un)!"',
      '        printf "%s\\n" "$x" "$1" > /etc/kubernetes/shells/who',
      '      args: ["arg with \\\\ backslash"]',
      '      creates: /etc/kubernetes/shells/who',
      '',
    ].join('\n'),
  );
  const v = await validateCmd({ files: [rb], inventory: inv });
  assert.equal(v.exitCode, 0, JSON.stringify(v.diagnostics));
  assert.ok(!v.diagnostics.some((d) => /ansible_shell_type/.test(d.message)), 'no longer a warning: runbook follows it');
  const out = new Capture();
  const first = await applyCmd({ runbook: rb, inventory: inv, stateDir: join(dir, 'state-shells'), stdout: out, stderr: out });
  assert.equal(first.exitCode, 0, out.text);
  for (const h of lab.hosts) {
    assert.equal(readFileSync(lab.hostPath(h, '/etc/kubernetes/shells/who'), 'utf8'), 'root!\narg with \\ backslash\n', h.name);
    assert.ok(existsSync(lab.hostPath(h, "/etc/kubernetes/shells/it's!.conf")), h.name);
  }
  const again = new Capture();
  const second = await applyCmd({ runbook: rb, inventory: inv, stateDir: join(dir, 'state-shells'), stdout: again, stderr: again });
  assert.equal(second.exitCode, 0, again.text);
  assert.match(again.text, /changed=0/);

  // undeclared: the fish and tcsh hosts fail with the hint, the sh host applies
  writeFileSync(inv, inventory(false));
  const bare = new Capture();
  const r = await applyCmd({ runbook: rb, inventory: inv, stateDir: join(dir, 'state-bare'), stdout: bare, stderr: bare });
  assert.notEqual(r.exitCode, 0);
  assert.match(bare.text, /ansible_shell_type: csh \(or fish\)/);
});

test('ansible_shell_type powershell is an error at its place in the inventory', { skip }, async () => {
  const inv = join(dir, 'windows.yaml');
  writeFileSync(inv, inventory(false).replace('ansible_user: ops2 }', 'ansible_user: ops2, ansible_shell_type: powershell }'));
  const v = await validateCmd({ files: [join(dir, 'shells-runbook.yaml')], inventory: inv });
  assert.notEqual(v.exitCode, 0);
  const d = v.diagnostics.find((x) => /ansible_shell_type/.test(x.message));
  assert.ok(d && d.severity === 'error' && d.file?.endsWith('windows.yaml') && d.line && d.col, JSON.stringify(v.diagnostics));
  assert.match(d.message, /ansible_shell_type "powershell" is not supported: runbook runs POSIX commands/);
});
