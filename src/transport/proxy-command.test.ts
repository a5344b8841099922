// ProxyCommand's process, without an SSH server: fake proxies that exit, talk nonsense or will not die.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandProxyCommand, programOf, startProxyCommand } from './proxy-command.js';
import { SshTransport } from './ssh.js';
import { isUserError } from '../errors.js';

/** The pid a fake proxy wrote to `file`, once it has (0 if it never does within 2.5 s). */
async function pidWrittenTo(file: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const pid = Number(readFileSync(file, { encoding: 'utf8', flag: 'a+' }).trim());
    if (pid) return pid;
  }
  return 0;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('tokens: %h %p %r %n %% expanded; a value a shell or the proxy would read differently, or another token, refused', () => {
  const t = { host: 'fe80::1%eth0', port: 2222, user: 'ops', alias: 'cp-1.example' };
  assert.equal(expandProxyCommand('nc %h %p # %r %n 100%%', t), 'nc fe80::1%eth0 2222 # ops cp-1.example 100%');
  for (const [host, why] of [['x;touch /tmp/p', /has characters a shell would read/], ['[::1]', /has characters/], ['-oProxyCommand=x', /has characters/], ['a b', /has characters/]] as const) {
    assert.throws(() => expandProxyCommand('nc %h %p', { ...t, host }), why, host);
  }
  assert.throws(() => expandProxyCommand('nc %h %C', t), /`%C` is not a ProxyCommand token/);
  assert.throws(() => expandProxyCommand('nc %h %', t), /`%` is not a ProxyCommand token/);
});

test('only the program is named: not its arguments, nor the variables set before it', () => {
  assert.equal(programOf('SSHPASS=s3cret sshpass -e ssh -W %h:%p b'), 'sshpass …');
  assert.equal(programOf('exec /usr/bin/ssh -W %h:%p b'), 'ssh …');
  assert.equal(programOf('env TOKEN=x aws ssm start-session'), 'aws …');
  assert.equal(programOf('nc'), 'nc');
});

test('a proxy that exits says why in its own words; one that ignores SIGTERM is killed', async () => {
  const p = startProxyCommand(`sh -c 'printf "no route to host\\n\\033[1mbold\\033[0m\\n" >&2; exit 3'`);
  await p.ended(5000);
  assert.equal(p.failure(), 'exited with code 3: no route to host / bold');
  p.stop();
  // stop(): SIGTERM, and SIGKILL 2 s later for a proxy that ignores it
  const dir = mkdtempSync(join(tmpdir(), 'runbook-proxy-'));
  try {
    const pidFile = join(dir, 'pid');
    const stubborn = startProxyCommand(`sh -c 'echo $$ > ${pidFile}; trap "" TERM; while :; do sleep 1; done'`);
    const pid = await pidWrittenTo(pidFile);
    assert.ok(pid > 0 && alive(pid));
    stubborn.stop();
    await stubborn.ended(6000);
    assert.ok(!alive(pid), `the proxy ${pid} outlived stop()`);
    assert.equal(stubborn.failure(), 'was ended by SIGKILL');
    // what the command started goes with it (`sh -c "aws ssm ..."` forks its program)
    const childFile = join(dir, 'child');
    const forking = startProxyCommand(`sh -c 'sleep 30 & echo $! > ${childFile}; wait'`);
    const grandchild = await pidWrittenTo(childFile);
    assert.ok(grandchild > 0 && alive(grandchild));
    forking.stop();
    for (let i = 0; i < 60 && alive(grandchild); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!alive(grandchild), `the command's own child ${grandchild} outlived stop()`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('through a proxy, a protocol error is reported as itself, not as the proxy ending when its stream was cut', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-proxy-'));
  try {
    const kh = join(dir, 'known_hosts');
    writeFileSync(kh, '');
    // an ancient server on the other end: ssh2 refuses its protocol version
    const err = await SshTransport.connect({ host: 'old.example', user: 'ops', password: 'x', knownHostsPath: kh, connectTimeoutMs: 5000, proxyCommand: `sh -c 'printf "SSH-1.5-old\\r\\n"; sleep 10'` }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isUserError(err) && err.kind === 'connect', String(err));
    assert.doesNotMatch(err.message, /ProxyCommand .* (exited|was ended)/);
    assert.match(err.message, /Invalid identification string/);
    // a proxy still running when the connect times out: the timeout, with what the proxy said
    const slow = await SshTransport.connect({ host: 'h.example', user: 'ops', password: 'x', knownHostsPath: kh, connectTimeoutMs: 1000, proxyCommand: `sh -c 'echo "connect to host h.example port 22: Connection timed out" >&2; sleep 10'` }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isUserError(slow) && slow.kind === 'connect', String(slow));
    assert.match(slow.message, /\(its ProxyCommand said: connect to host h\.example port 22: Connection timed out\)$/);
    assert.equal(slow.message, slow.diagnostic.message);
    // and a proxy that fails before any SSH: its own words
    const gone = await SshTransport.connect({ host: 'h.example', user: 'ops', password: 'x', knownHostsPath: kh, connectTimeoutMs: 5000, proxyCommand: `sh -c 'echo "Permission denied (publickey)." >&2; exit 255'` }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isUserError(gone));
    assert.match(gone.message, /its ProxyCommand \(`sh …`\) exited with code 255: Permission denied \(publickey\)\./);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
