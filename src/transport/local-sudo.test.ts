import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLocalSudo } from './local-sudo.js';
import { isUserError } from '../errors.js';

/**
 * A stand-in `sudo` first on PATH: it records the directory it was started in, skips its options
 * and runs the command as this user. Enough to see where the working directory is entered.
 */
function fakeSudo(dir: string): { env: NodeJS.ProcessEnv; startedIn: () => string } {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const record = join(dir, 'sudo-cwd');
  writeFileSync(
    join(bin, 'sudo'),
    `#!/bin/sh\npwd > '${record}'\nwhile [ $# -gt 0 ]; do case $1 in --) shift; break ;; -p|-u) shift 2 ;; *) shift ;; esac; done\nexec "$@"\n`,
  );
  chmodSync(join(bin, 'sudo'), 0o755);
  return { env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` }, startedIn: () => readFileSync(record, 'utf8').trim() };
}

test('local sudo with cwd: sudo starts where runbook is, the directory is entered by the command it runs (as the become user)', async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'local-sudo-')));
  try {
    const sudo = fakeSudo(dir);
    const work = join(dir, "the work dir's");
    mkdirSync(work);
    let ready = false;
    const r = await runLocalSudo(['sh', '-c', 'pwd; cat'], { user: 'root', host: 'local', env: sudo.env, cwd: work, stdin: Buffer.from('in'), onReady: () => (ready = true) });
    assert.equal(r.code, 0, r.stderr.toString());
    assert.equal(r.stdout.toString(), `${work}\nin`);
    assert.ok(ready);
    assert.equal(sudo.startedIn(), process.cwd(), 'sudo itself is not started in the directory (that would be entered as this user)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('local sudo with a missing cwd: the command fails naming the directory; sudo is not said to have refused', async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'local-sudo-')));
  try {
    const sudo = fakeSudo(dir);
    const missing = join(dir, 'nosuch');
    let ready = false;
    const r = await runLocalSudo(['true'], { user: 'root', host: 'local', env: sudo.env, cwd: missing, onReady: () => (ready = true) });
    assert.notEqual(r.code, 0);
    assert.ok(ready, 'sudo let the command start: a later failure is the command\'s');
    assert.match(r.stderr.toString(), new RegExp(`cd.*${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a sudo that asks a question other than its password prompt (a PAM second factor) is given up on, naming what it asked', async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'local-sudo-')));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  // as pam_google_authenticator does: its own prompt on stderr, then a wait for the answer
  writeFileSync(join(bin, 'sudo'), '#!/bin/sh\nprintf "Verification code: " >&2\nread code\nexit 1\n');
  chmodSync(join(bin, 'sudo'), 0o755);
  const saved = process.env.RUNBOOK_BECOME_TIMEOUT;
  process.env.RUNBOOK_BECOME_TIMEOUT = '1';
  try {
    const started = Date.now();
    await assert.rejects(
      runLocalSudo(['true'], { user: 'root', host: 'local', env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` }, password: 'pw' }),
      /sudo on local did not start the command as root within 1 s: it asked "Verification code:", which is not runbook's password prompt/,
    );
    assert.ok(Date.now() - started < 10_000, 'given up on after the become timeout, not left waiting');
  } finally {
    if (saved === undefined) delete process.env.RUNBOOK_BECOME_TIMEOUT;
    else process.env.RUNBOOK_BECOME_TIMEOUT = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A stand-in sudo (first on PATH) running `script` with sudo's own arguments; `$prompt` is its -p prompt. */
function scriptedSudo(dir: string, script: string): NodeJS.ProcessEnv {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const head = 'while [ $# -gt 0 ]; do case $1 in -p) prompt=$2; shift 2 ;; -u) shift 2 ;; --) shift; break ;; *) shift ;; esac; done\n';
  writeFileSync(join(bin, 'sudo'), `#!/bin/sh\n${head}${script}\n`, { mode: 0o755 });
  return { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
}

test('the become timeout counts from the password for a sudo slow to check it, and a silent stall is a timeout (asked again), not the host\'s sudo verdict', async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'local-sudo-')));
  const saved = process.env.RUNBOOK_BECOME_TIMEOUT;
  process.env.RUNBOOK_BECOME_TIMEOUT = '1';
  try {
    // asks after 0.8 s, takes 0.8 s more to check the answer: 1.6 s in all, each part under the timeout
    const slow = scriptedSudo(join(dir, 'slow'), 'sleep 0.8; printf "%s" "$prompt" >&2; read pw; sleep 0.8; exec "$@"');
    const r = await runLocalSudo(['echo', 'started'], { user: 'root', host: 'local', env: slow, password: 'pw' });
    assert.equal(r.stdout.toString(), 'started\n');
    const silent = scriptedSudo(join(dir, 'silent'), 'sleep 30');
    await assert.rejects(runLocalSudo(['true'], { user: 'root', host: 'local', env: silent, password: 'pw' }), (e: unknown) => isUserError(e) && e.kind === 'timeout' && /within 1 s: it printed nothing/.test(e.message));
  } finally {
    if (saved === undefined) delete process.env.RUNBOOK_BECOME_TIMEOUT;
    else process.env.RUNBOOK_BECOME_TIMEOUT = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
