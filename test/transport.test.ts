/**
 * SshTransport against real OpenSSH servers (lab hosts in their own mount namespaces). No mocks.
 * Skips with the lab's reason when the machine cannot run it (not root, no sshd, no unshare).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { LabHost } from '../src/lab/hosts.js';
import { EXEC_CHANNELS, SshTransport } from '../src/transport/ssh.js';
import { secret } from '../src/transport/quote.js';
import { isUserError } from '../src/errors.js';
import { connectWhenBack, lab, reloadSshd, sshOptions as opts, useLab, dir as work } from './support/lab.js';

let t1: SshTransport;

const skip = useLab({
  start: { count: 3, firstAddress: '127.1.201.1', namePrefix: 'tt' },
  tmp: 'transport-test-',
  setup: async () => {
    t1 = await SshTransport.connect(opts(lab.hosts[0]!));
  },
  teardown: async () => {
    await t1?.close();
  },
});

const NASTY = ['x; touch /tmp/pwned', '$(id)', '`id`', 'a\nb\n', '-n', '--help', "it's", '"dq"', '', ' sp ', '*', '~', '\\', 'A=b', '|| true'];

test('exec: stdout, stderr and exit codes', { skip }, async () => {
  const r = await t1.exec(['sh', '-c', 'echo out; echo err >&2; exit 7']);
  assert.deepEqual([r.code, r.stdout, r.stderr, r.timedOut], [7, 'out\n', 'err\n', undefined]);
  assert.equal((await t1.exec(['true'])).code, 0);
  assert.equal((await t1.exec(['false'])).code, 1);
  assert.equal((await t1.exec(['no-such-command-xyz'])).code, 127);
  const killed = await t1.exec(['sh', '-c', 'kill -TERM $PPID']); // the login shell itself
  assert.deepEqual([killed.code, killed.signal], [null, 'SIGTERM']);
});

test('exec: hostile arguments reach the remote as single literal arguments', { skip }, async () => {
  const r = await t1.exec(['printf', '%s\\n', ...NASTY]);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, NASTY.map((s) => s + '\n').join(''));
  const env = await t1.exec(['sh', '-c', 'printf %s "$V"'], { env: { V: 'x; touch /tmp/pwned $(id)' } });
  assert.equal(env.stdout, 'x; touch /tmp/pwned $(id)');
  const cwd = await t1.exec(['pwd'], { cwd: '/tmp' });
  assert.equal(cwd.stdout, '/tmp\n');
  const sec = await t1.exec(['printf', '%s', secret("s3cr'et; id")]);
  assert.equal(sec.stdout, "s3cr'et; id");
  assert.ok(!existsSync(lab.hostPath(lab.hosts[0]!, '/tmp/pwned')), '/tmp/pwned must not exist on the host');
});

test('exec: stdin, and EOF when none is given', { skip }, async () => {
  assert.equal((await t1.exec(['cat'], { stdin: 'hello\nworld' })).stdout, 'hello\nworld');
  const big = Buffer.alloc(300_000, 'x');
  assert.equal((await t1.exec(['wc', '-c'], { stdin: big })).stdout.trim(), '300000');
  assert.equal((await t1.exec(['cat'])).stdout, '');
});

test('exec: a timeout kills the remote command', { skip }, async () => {
  const started = Date.now();
  const r = await t1.exec(['sh', '-c', 'echo $$ > /tmp/sleeper.pid; exec sleep 30'], { timeoutMs: 300 });
  assert.equal(r.timedOut, true);
  assert.equal(r.code, null);
  assert.ok(Date.now() - started < 3000);
  const pid = readFileSync(lab.hostPath(lab.hosts[0]!, '/tmp/sleeper.pid'), 'utf8').trim();
  // same PID namespace: the process is gone, or a zombie waiting for its (new) parent to reap it
  const state = () => {
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
    } catch {
      return 'gone';
    }
  };
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    gone = ['gone', 'Z', 'X'].includes(state());
    if (!gone) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(gone, `sleep (pid ${pid}) still running after the timeout`);
  assert.equal((await t1.exec(['echo', 'still usable'])).stdout, 'still usable\n');
});

test('exec: many concurrent commands share one connection, taking turns within sshd\'s MaxSessions (10 by default)', { skip }, async () => {
  // each holds its session a while, so without turns the 11th would be refused by the lab's sshd
  const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => t1.exec(['sh', '-c', 'sleep 0.1; echo "$0"', String(i)])));
  assert.deepEqual(
    rs.map((r) => r.stdout),
    Array.from({ length: 40 }, (_, i) => `${i}\n`),
  );
  // every session busy: the SFTP session still opens, and the commands timing out together are all
  // killed (their kills take turns in the one session kept for them), leaving the sessions free
  const [slow, files] = await Promise.all([Promise.all(Array.from({ length: EXEC_CHANNELS }, () => t1.exec(['sleep', '5.37'], { timeoutMs: 300 }))), t1.stat('/etc/hostname')]);
  assert.ok(slow.every((r) => r.timedOut));
  assert.ok(files);
  const left = () => spawnSync('pgrep', ['-f', '^sleep 5.37$'], { encoding: 'utf8' }).stdout.trim();
  for (let i = 0; i < 30 && left(); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(left(), '', 'no timed-out command survives');
  const again = await Promise.all(Array.from({ length: EXEC_CHANNELS + 2 }, (_, i) => t1.exec(['echo', String(i)])));
  assert.ok(again.every((r, i) => r.stdout === `${i}\n`));
});

test('exec: cancel() stops the commands still waiting for their turn; they never start', { skip }, async () => {
  const t = await SshTransport.connect(opts(lab.hosts[0]!));
  try {
    const marks = Array.from({ length: EXEC_CHANNELS + 6 }, (_, i) => `/tmp/turn-${i}`);
    const all = Promise.all(marks.map((m) => t.exec(['sh', '-c', 'touch "$0"; sleep 3', m])));
    await new Promise((r) => setTimeout(r, 700)); // the first EXEC_CHANNELS are running, the rest wait
    await t.cancel();
    const rs = await all;
    assert.ok(rs.every((r) => r.timedOut), 'every one ends as timed out');
    await new Promise((r) => setTimeout(r, 500));
    const started = marks.filter((m) => existsSync(lab.hostPath(lab.hosts[0]!, m)));
    assert.equal(started.length, EXEC_CHANNELS, `only the ones running at the cancel started: ${started.join(' ')}`);
  } finally {
    await t.close();
  }
});

/** How many of `n` sessions opened at once on one plain ssh2 connection to h the host's sshd refuses. */
async function refusedSessions(h: LabHost, n: number): Promise<number> {
  const c = new ssh2.Client();
  await new Promise<void>((res, rej) => c.on('ready', res).on('error', rej).connect({ host: h.address, port: h.port, username: h.user, privateKey: readFileSync(lab.privateKeyPath) }));
  try {
    const opened = await Promise.all(Array.from({ length: n }, () => new Promise<boolean>((res) => c.exec('sleep 1', (err, ch) => (err ? res(false) : (ch.on('close', () => undefined).resume(), res(true)))))));
    return opened.filter((ok) => !ok).length;
  } finally {
    c.end();
  }
}

test('exec: a host whose sshd allows fewer sessions than runbook opens: the commands wait for the ones it allows', { skip }, async () => {
  const h = lab.hosts[1]!;
  const cfg = join(lab.dir, 'hosts', h.name, 'sshd_config');
  const before = readFileSync(cfg, 'utf8');
  writeFileSync(cfg, `MaxSessions 3\n${before}`); // a hardened host (CIS-style)
  process.kill(h.pid, 'SIGHUP');
  try {
    const t = await connectWhenBack(opts(h));
    try {
      // the witness: sshd now refuses a fourth session on one connection
      assert.equal(await refusedSessions(h, 4), 1);
      const [rs, hostname] = await Promise.all([Promise.all(Array.from({ length: 20 }, (_, i) => t.exec(['sh', '-c', 'sleep 0.1; echo "$0"', String(i)]))), t.read('/etc/hostname')]);
      assert.deepEqual(rs.map((r) => r.stdout), Array.from({ length: 20 }, (_, i) => `${i}\n`));
      assert.ok(hostname.length > 0, 'and SFTP gets its session meanwhile');
    } finally {
      await t.close();
    }
  } finally {
    writeFileSync(cfg, before);
    await reloadSshd(h);
  }
});

test('files: writeAtomic / read / stat round trip with mode, no temp files left', { skip }, async () => {
  const h = lab.hosts[0]!;
  await t1.exec(['mkdir', '-p', '/etc/kubernetes/pki']);
  const p = '/etc/kubernetes/pki/test.key';
  await t1.writeAtomic(p, 'secret-key\n', { mode: 0o600 });
  assert.equal((await t1.read(p)).toString(), 'secret-key\n');
  let st = await t1.stat(p);
  assert.deepEqual([st?.type, st?.size, st?.mode, st?.uid], ['file', 11, 0o600, 0]);
  assert.equal(statSync(lab.hostPath(h, p)).mode & 0o777, 0o600);
  await t1.exec(['chmod', '640', p]);
  const bin = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
  await t1.writeAtomic(p, bin);
  assert.ok((await t1.read(p)).equals(bin));
  st = await t1.stat(p);
  assert.equal(st?.mode, 0o640, 'an existing mode is kept when none is given');
  const big = Buffer.alloc(200_000, 7);
  await t1.writeAtomic('/tmp/big.bin', big, { mode: 0o644 });
  assert.ok((await t1.read('/tmp/big.bin')).equals(big));
  assert.deepEqual((await t1.exec(['ls', '-A', '/etc/kubernetes/pki'])).stdout, 'test.key\n');
  assert.equal(await t1.stat('/etc/kubernetes/nope'), null);
  assert.equal((await t1.stat('/etc/kubernetes'))?.type, 'directory');
  await t1.exec(['ln', '-sf', 'pki/test.key', '/etc/kubernetes/link']);
  assert.equal((await t1.stat('/etc/kubernetes/link'))?.type, 'symlink');
  await assert.rejects(t1.read('/etc/kubernetes/nope'), (e: unknown) => isUserError(e) && e.kind === 'io' && /nope/.test(e.message));
  await assert.rejects(t1.writeAtomic('/no/such/dir/f', 'x'), (e: unknown) => isUserError(e) && e.kind === 'io');
});

test('host keys: unknown refused (strict), accept-new records it, changed refused even with accept-new', { skip }, async () => {
  const h = lab.hosts[1]!;
  const empty = join(work, 'empty_known_hosts');
  writeFileSync(empty, '');
  await assert.rejects(SshTransport.connect(opts(h, { knownHostsPath: empty })), (e: unknown) => {
    assert.ok(isUserError(e));
    assert.equal(e.kind, 'host-key');
    assert.match(e.message, new RegExp(`host key for ${h.address.replace(/\./g, '\\.')}:22 is not in .*empty_known_hosts \\(ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}\\); run with --accept-new`));
    return true;
  });
  const fresh = join(work, 'sub', 'known_hosts'); // missing file and directory
  const t = await SshTransport.connect(opts(h, { knownHostsPath: fresh, hostKeyPolicy: 'accept-new' }));
  assert.equal((await t.exec(['echo', 'ok'])).stdout, 'ok\n');
  await t.close();
  const recorded = readFileSync(fresh, 'utf8');
  assert.match(recorded, new RegExp(`^${h.address.replace(/\./g, '\\.')} ssh-ed25519 AAAA\\S+\\n$`));
  const again = await SshTransport.connect(opts(h, { knownHostsPath: fresh })); // strict now passes
  await again.close();

  // changed: known_hosts says host 1 has host 2's key
  const lines = readFileSync(lab.knownHostsPath, 'utf8').trim().split('\n');
  const other = lines[2]!.split(' ');
  const forged = join(work, 'forged_known_hosts');
  writeFileSync(forged, `# first line\n${h.address} ${other[1]} ${other[2]}\n`);
  for (const hostKeyPolicy of ['strict', 'accept-new'] as const) {
    await assert.rejects(SshTransport.connect(opts(h, { knownHostsPath: forged, hostKeyPolicy })), (e: unknown) => {
      assert.ok(isUserError(e));
      assert.equal(e.kind, 'host-key');
      assert.match(e.message, /HOST KEY CHANGED for .*possible man-in-the-middle; remove the old key from .*forged_known_hosts line 2/);
      return true;
    });
  }
  assert.equal(readFileSync(forged, 'utf8').split('\n').length, 3, 'a changed key is never recorded');

  // revoked
  const revoked = join(work, 'revoked_known_hosts');
  copyFileSync(lab.knownHostsPath, revoked);
  const own = lines[1]!.split(' ');
  writeFileSync(revoked, readFileSync(revoked, 'utf8') + `@revoked * ${own[1]} ${own[2]}\n`);
  await assert.rejects(SshTransport.connect(opts(h, { knownHostsPath: revoked })), /REVOKED/);
});

test('host keys as ssh finds them: in a global known_hosts file, and by HostKeyAlias; an accepted key goes to the user file', { skip }, async () => {
  const h = lab.hosts[1]!;
  const own = readFileSync(lab.knownHostsPath, 'utf8').trim().split('\n')[1]!.split(' ');
  const empty = join(work, 'empty_user_known_hosts');
  writeFileSync(empty, '');
  // the fleet's keys in a global file only (as configuration management distributes them)
  const global = join(work, 'ssh_known_hosts');
  writeFileSync(global, `${h.address} ${own[1]} ${own[2]}\n`);
  const t = await SshTransport.connect(opts(h, { knownHostsPaths: [empty], globalKnownHostsPaths: [global] }));
  await t.close();
  // HostKeyAlias: the key is looked up under the alias, not the address
  const aliased = join(work, 'aliased_known_hosts');
  writeFileSync(aliased, `node-b.example ${own[1]} ${own[2]}\n`);
  const a = await SshTransport.connect(opts(h, { knownHostsPaths: [aliased], globalKnownHostsPaths: [], hostKeyAlias: 'node-b.example' }));
  await a.close();
  await assert.rejects(SshTransport.connect(opts(h, { knownHostsPaths: [aliased], globalKnownHostsPaths: [] })), /is not in .*aliased_known_hosts/);
  // accept-new records under the alias, in the user file; the global file is never written
  const user = join(work, 'alias_user_known_hosts');
  const n = await SshTransport.connect(opts(h, { knownHostsPaths: [user], globalKnownHostsPaths: [global], hostKeyAlias: 'node-b.new', hostKeyPolicy: 'accept-new' }));
  await n.close();
  assert.match(readFileSync(user, 'utf8'), /^node-b\.new ssh-ed25519 AAAA\S+\n$/);
  assert.equal(readFileSync(global, 'utf8'), `${h.address} ${own[1]} ${own[2]}\n`);
});

test('a host known only through a host certificate authority: ssh(1) connects, runbook refuses and says why', { skip }, async () => {
  const h = lab.hosts[2]!;
  const hostDir = join(lab.dir, 'hosts', h.name);
  const ca = join(work, 'host_ca');
  assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'host-ca', '-f', ca]).status, 0);
  assert.equal(spawnSync('ssh-keygen', ['-q', '-s', ca, '-I', h.name, '-h', '-n', h.address, join(hostDir, 'ssh_host_ed25519_key.pub')]).status, 0);
  const cfg = join(hostDir, 'sshd_config');
  const before = readFileSync(cfg, 'utf8');
  // beside its HostKey line, under the path sshd sees in its own namespace
  writeFileSync(cfg, before.replace(/^HostKey (\S+)$/m, 'HostKey $1\nHostCertificate $1-cert.pub'));
  process.kill(h.pid, 'SIGHUP'); // sshd re-execs with the new config, same PID
  try {
    const known = join(work, 'ca_known_hosts');
    writeFileSync(known, `# the fleet's host CA, as ssh(1) uses it\n@cert-authority ${h.address} ${readFileSync(ca + '.pub', 'utf8').trim()}\n`);
    // the witness: OpenSSH trusts the host through its certificate (retried while sshd restarts)
    const sshArgs = ['-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${known}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes', '-i', lab.privateKeyPath, `root@${h.address}`, 'true'];
    let ssh = spawnSync('ssh', sshArgs, { encoding: 'utf8' });
    for (let i = 0; i < 50 && ssh.status !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ssh = spawnSync('ssh', sshArgs, { encoding: 'utf8' });
    }
    assert.equal(ssh.status, 0, ssh.stderr);
    await assert.rejects(SshTransport.connect(opts(h, { knownHostsPaths: [known], globalKnownHostsPaths: [] })), (e: unknown) =>
      isUserError(e) && e.kind === 'host-key' && /ca_known_hosts line 2 trusts it through a host certificate authority.*cannot verify host certificates/.test(e.message) && /ssh-keyscan/.test(e.diagnostic.hint ?? ''),
    );
  } finally {
    writeFileSync(cfg, before);
    await reloadSshd(h); // the next test connects to this host at once
  }
});

test('connect errors name the host', { skip }, async () => {
  const h = lab.hosts[2]!;
  await assert.rejects(SshTransport.connect(opts(h, { port: 2 })), (e: unknown) => {
    assert.ok(isUserError(e));
    assert.equal(e.kind, 'connect');
    assert.match(e.message, /tt-03 .*connection refused/);
    return true;
  });
  const otherKey = join(work, 'other_key');
  const { spawnSync } = await import('node:child_process');
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
  await assert.rejects(SshTransport.connect(opts(h, { privateKeyPath: otherKey })), (e: unknown) => {
    assert.ok(isUserError(e));
    assert.equal(e.kind, 'connect');
    assert.match(e.message, /authentication failed for tt-03/);
    return true;
  });
});

test('proxyJump: reach host 3 through host 1', { skip }, async () => {
  const t3 = await SshTransport.connect(opts(lab.hosts[2]!, { proxyJump: t1 }));
  assert.equal((await t3.exec(['cat', '/proc/sys/kernel/hostname'])).code, 0);
  await t3.writeAtomic('/tmp/through-jump', 'j');
  assert.equal(readFileSync(lab.hostPath(lab.hosts[2]!, '/tmp/through-jump'), 'utf8'), 'j');
  await t3.close();
});

test('become: the command line names sudo with a fresh prompt, never the password', { skip }, async () => {
  const t = await SshTransport.connect(opts(lab.hosts[0]!, { become: true, becomeUser: 'nobody', becomePassword: 'hunter2' }));
  try {
    const m = { prompt: '[p] ', ready: 'r' };
    const line = t.commandLine(['id', '-u'], { cwd: '/tmp', env: { A: '1' } }, m);
    // the directory is entered by the command sudo runs, as the become user
    assert.equal(line, `sudo -S -p '[p] ' -u nobody -- sh -c 'printf "%s\\n" "$0" >&2; cd -- "$1" || exit; shift; exec "$@"' r /tmp env A=1 id -u`);
    assert.ok(!line.includes('hunter2'));
    // root may sudo without a password: nothing is written before the command's own stdin
    assert.equal((await t.exec(['id', '-un'])).stdout, 'nobody\n');
    assert.equal((await t.exec(['cat'], { stdin: 'data, and no password line' })).stdout, 'data, and no password line');
    assert.equal((await t.exec(['id', '-un'], { become: false })).stdout, 'root\n');
    // the login user is root: become to root needs no sudo at all
    assert.equal(t.withBecome({ user: 'root' }).commandLine(['true']), 'true');
  } finally {
    await t.close();
  }
});

test('a closed transport says so', { skip }, async () => {
  const t = await SshTransport.connect(opts(lab.hosts[1]!));
  await t.close();
  await assert.rejects(t.exec(['true']), (e: unknown) => isUserError(e) && e.kind === 'connect' && /closed/.test(e.message));
});

test('round trip of `true` on one connection (reported, loosely bounded)', { skip }, async () => {
  for (let i = 0; i < 10; i++) await t1.exec(['true']);
  const n = 100;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await t1.exec(['true']);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / n;
  console.log(`# ssh exec round trip of \`true\`: ${ms.toFixed(2)} ms`);
  assert.ok(ms < 50, `per-exec round trip ${ms} ms`);
});
