// What each kind of login shell makes of the exec requests runbook sends: the real dash, bash, tcsh
// and fish run them here as sshd would (`SHELL -c REQUEST`), in a scratch directory and home.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loginShellLine, loginShellProblem, parseLoginShell, pidLine, type LoginShell } from './login-shell.js';
import { shellJoin } from './quote.js';
import { isUserError } from '../errors.js';

const which = (cmd: string): string | undefined => {
  const r = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};
const SHELLS = { dash: which('dash'), bash: which('bash'), tcsh: which('tcsh'), fish: which('fish') };
const missing = (...names: (keyof typeof SHELLS)[]): string | false => {
  const gone = names.filter((n) => !SHELLS[n]);
  return gone.length ? `${gone.join(', ')} not installed (.ci/run installs them)` : false;
};

const scratch = mkdtempSync(join(tmpdir(), 'login-shell-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

/** `shell -c request` in an empty directory with a scratch home: its stdout, stderr, exit code and the files it left. */
function run(shell: string, request: string): { stdout: string; stderr: string; code: number | null; left: string[] } {
  const cwd = mkdtempSync(join(scratch, 'cwd-'));
  const home = mkdtempSync(join(scratch, 'home-'));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, XDG_CONFIG_HOME: home, XDG_DATA_HOME: home, LANG: 'C.UTF-8' };
  const r = spawnSync(shell, ['-c', request], { cwd, env, encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, code: r.status, left: readdirSync(cwd) };
}

/** The command line that prints each argument followed by NUL, as runbook would build it. */
const printArgs = (args: string[]): string => shellJoin(['printf', '%s\\0', ...args]);
const printed = (args: string[]): string => args.map((a) => `${a}\0`).join('');

/** printable ASCII, what each shell treats specially, and some non-ASCII (a NUL cannot be in an argument) */
const ARG_CHAR = fc.oneof(fc.constantFrom("'", '\\', '!', '\n', '\t', '$', '`', '"', '#', '%', '~', '{', '}', '(', ')', ';', '&', '|', '<', '>', '*', '?', '[', ']', 'é', '€', '💡'), fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)));

const TRICKY = ["it's", 'back\\slash', 'two\\\\', 'bang!s', '!!', '$HOME', '`id`', '$(id)', 'multi\nline\n', '"quoted"', 'tab\there', '*', '~', '{a,b}', '; rm -rf x', 'ünïcödé', '%s', '#hash', '-n'];

test('a POSIX login shell runs the guarded line as it is, reporting its PID first', { skip: missing('dash', 'bash') }, () => {
  for (const sh of [SHELLS.dash!, SHELLS.bash!]) {
    const line = printArgs(TRICKY.filter((a) => !a.includes('\n')));
    const { request, raw } = loginShellLine(line, 'sh', false);
    assert.ok(raw);
    const r = run(sh, request);
    assert.match(r.stderr, /^\d+\n$/, sh);
    assert.equal(r.stdout, printed(TRICKY.filter((a) => !a.includes('\n'))), sh);
  }
});

test('a line with a newline is wrapped until the login shell is proven POSIX, then sent as it is', { skip: missing('dash') }, () => {
  const line = printArgs(TRICKY);
  assert.equal(loginShellLine(line, 'sh', false).raw, false);
  assert.equal(loginShellLine(line, 'sh', true).raw, true);
  for (const proven of [false, true]) {
    const r = run(SHELLS.dash!, loginShellLine(line, 'sh', proven).request);
    assert.match(r.stderr, /^\d+\n$/);
    assert.equal(r.stdout, printed(TRICKY));
  }
});

for (const [shell, type] of [['tcsh', 'csh'], ['fish', 'fish']] as const) {
  test(`a ${shell} login shell rejects a POSIX line before running any of it, and writes nothing`, { skip: missing(shell) }, () => {
    // `echo "$$" >&2` alone would make tcsh write a file named 2, and fish exit 0 having run nothing
    const r = run(SHELLS[shell]!, loginShellLine(shellJoin(['touch', 'ran']), 'sh', false).request);
    assert.doesNotMatch(r.stderr, /^\d+\n/);
    assert.equal(r.stdout, '');
    assert.deepEqual(r.left, []);
  });

  test(`a ${shell} login shell passes a multi-line script of an unproven host to /bin/sh whole`, { skip: missing(shell) }, () => {
    const line = shellJoin(['sh', '-c', 'x="a!b"\nprintf "%s\\n" "$x" >ran\ncat ran', 'sh']);
    const r = run(SHELLS[shell]!, loginShellLine(line, 'sh', false).request);
    assert.match(r.stderr, /^\d+\n$/);
    assert.equal(r.stdout, 'a!b\n');
    assert.deepEqual(r.left, ['ran']);
  });

  test(`with ansible_shell_type ${type}, ${shell} runs every argument through /bin/sh unchanged`, { skip: missing(shell) }, () => {
    const r = run(SHELLS[shell]!, loginShellLine(printArgs(TRICKY), type, false).request);
    assert.match(r.stderr, /^\d+\n$/);
    assert.equal(r.stdout, printed(TRICKY));
    // exit codes come through the wrapper
    assert.equal(run(SHELLS[shell]!, loginShellLine(shellJoin(['sh', '-c', 'exit 7']), type, false).request).code, 7);
  });

  test(`with ansible_shell_type ${type}, ${shell} passes any argument vector through (property)`, { skip: missing(shell) }, () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: ARG_CHAR, maxLength: 12 }), { minLength: 1, maxLength: 4 }), (args) => {
        const r = run(SHELLS[shell]!, loginShellLine(printArgs(args), type, true).request);
        assert.equal(r.stdout, printed(args));
      }),
      { numRuns: 25 },
    );
  });
}

test('ansible_shell_type: sh, csh and fish are read; Windows shells and unknown ones are errors naming the choices', () => {
  const where = { host: 'n1' };
  const cases: [unknown, LoginShell][] = [[undefined, 'sh'], ['sh', 'sh'], ['csh', 'csh'], ['fish', 'fish']];
  for (const [v, want] of cases) assert.equal(parseLoginShell(v, where), want);
  for (const bad of ['powershell', 'cmd', 'bash', 7]) {
    assert.throws(() => parseLoginShell(bad, where), (e: unknown) => isUserError(e) && e.kind === 'inventory' && /sh \(the default.*csh.*fish/.test(e.message) && e.diagnostic.host === 'n1');
    assert.ok(loginShellProblem(bad));
  }
  assert.match(loginShellProblem('powershell')!, /POSIX commands, on Unix hosts only/);
});

test('the PID line is the first line of digits: a shell\'s complaint is none, start-up chatter before it is dropped', () => {
  assert.deepEqual(pidLine(Buffer.from('4242\nerr')), { pid: '4242', rest: Buffer.from('err') });
  assert.deepEqual(pidLine(Buffer.from('motd from .profile\n 17 \n')), { pid: '17', rest: Buffer.alloc(0) });
  assert.equal(pidLine(Buffer.from("fish: 'case' builtin not inside of switch block\n")), undefined);
  assert.equal(pidLine(Buffer.from('Too many )\'s.\n')), undefined);
  assert.equal(pidLine(Buffer.from('4242')), undefined, 'not a line until its newline comes');
});
