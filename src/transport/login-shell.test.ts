// What each kind of login shell makes of the exec requests runbook sends: the real dash, bash, tcsh
// and fish run them here as sshd would (`SHELL -c REQUEST`), in a scratch directory and home.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loginShellLine, loginShellProblem, newPidMarker, parseLoginShell, pidLine, type LoginShell } from './login-shell.js';
import { shellJoin } from './quote.js';
import { isUserError } from '../errors.js';

const which = (cmd: string): string | undefined => {
  const r = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};
/** POSIX login shells, the ones .ci/run installs (mksh, ksh93, yash and posh passed too when tried by hand) */
const POSIX = { dash: ['dash'], bash: ['bash'], zsh: ['zsh'], 'busybox sh': ['busybox', 'sh'] };
const NON_POSIX = { tcsh: which('tcsh'), fish: which('fish') };
const posixHere = Object.entries(POSIX).filter(([, argv]) => which(argv[0]!));
const missing = (...names: string[]): string | false => {
  const gone = names.filter((n) => !(n in NON_POSIX ? NON_POSIX[n as keyof typeof NON_POSIX] : posixHere.some(([k]) => k === n)));
  return gone.length ? `${gone.join(', ')} not installed (.ci/run installs them)` : false;
};

const scratch = mkdtempSync(join(tmpdir(), 'login-shell-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

/** `shell -c request` as sshd runs it (a session of its own), in an empty directory with a scratch home. */
function run(shell: string[], request: string): { stdout: string; stderr: string; code: number | null; left: string[] } {
  const cwd = mkdtempSync(join(scratch, 'cwd-'));
  const home = mkdtempSync(join(scratch, 'home-'));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, XDG_CONFIG_HOME: home, XDG_DATA_HOME: home, LANG: 'C.UTF-8' };
  const r = spawnSync('setsid', ['--wait', ...shell, '-c', request], { cwd, env, encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, code: r.status, left: readdirSync(cwd) };
}

/** The command line that prints each argument followed by NUL, as runbook would build it. */
const printArgs = (args: string[]): string => shellJoin(['printf', '%s\\0', ...args]);
const printed = (args: string[]): string => args.map((a) => `${a}\0`).join('');

/** printable ASCII, what each shell treats specially, and some non-ASCII (a NUL cannot be in an argument) */
const ARG_CHAR = fc.oneof(fc.constantFrom("'", '\\', '!', '\n', '\t', '$', '`', '"', '#', '%', '~', '{', '}', '(', ')', ';', '&', '|', '<', '>', '*', '?', '[', ']', '=', '^', 'é', '€', '💡'), fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)));

const TRICKY = ["it's", 'back\\slash', 'two\\\\', '\\n', '\\c', 'bang!s', '!!', '$HOME', '`id`', '$(id)', 'multi\nline\n', '"quoted"', 'tab\there', '*', '~', '{a,b}', '; rm -rf x', 'ünïcödé', '%s', '%b', '#hash', '-n', '=ls', '==', 'a=b', '^x', 'x^y'];
const ONE_LINE = TRICKY.filter((a) => !a.includes('\n'));

test('every POSIX login shell runs a one-line and a multi-line request as it is, its PID first under the marker', { skip: missing(...Object.keys(POSIX)) }, () => {
  for (const [name, shell] of posixHere) {
    for (const args of [ONE_LINE, TRICKY]) {
      const marker = newPidMarker();
      const r = run(shell, loginShellLine(printArgs(args), 'sh', marker));
      assert.equal(r.stdout, printed(args), name);
      const found = pidLine(Buffer.from(r.stderr), marker);
      assert.ok(found && /^\d+$/.test(found.pid) && found.rest.length === 0, `${name}: ${r.stderr}`);
    }
    // exit codes and `exit` come through either form
    assert.equal(run(shell, loginShellLine('exit 7', 'sh', newPidMarker())).code, 7, name);
    assert.equal(run(shell, loginShellLine('true\nexit 9', 'sh', newPidMarker())).code, 9, name);
  }
});

test('the PID reported is the session\'s process group, the one a timeout kills', { skip: missing('dash') }, () => {
  for (const line of ['ps -o pgid= -p $$', 'true\nps -o pgid= -p $$']) {
    const marker = newPidMarker();
    const r = run(['dash'], loginShellLine(line, 'sh', marker));
    assert.equal(r.stdout.trim(), pidLine(Buffer.from(r.stderr), marker)?.pid, line);
  }
});

for (const [shell, type] of [['tcsh', 'csh'], ['fish', 'fish']] as const) {
  test(`a ${shell} login shell rejects a POSIX request, one line or many, before running any of it, and writes nothing`, { skip: missing(shell) }, () => {
    // `echo "$$" >&2` alone would make tcsh write a file named 2, fish exit 0 having run nothing, and
    // tcsh run the lines after one it rejected
    for (const line of [shellJoin(['touch', 'ran']), `true\n${shellJoin(['touch', 'ran'])}\ntouch ran2`]) {
      const marker = newPidMarker();
      const r = run([NON_POSIX[shell]!], loginShellLine(line, 'sh', marker));
      assert.equal(pidLine(Buffer.from(r.stderr), marker), undefined, r.stderr);
      assert.equal(r.stdout, '');
      assert.deepEqual(r.left, []);
    }
  });

  test(`with ansible_shell_type ${type}, ${shell} runs every argument through /bin/sh unchanged`, { skip: missing(shell) }, () => {
    const marker = newPidMarker();
    const r = run([NON_POSIX[shell]!], loginShellLine(printArgs(TRICKY), type, marker));
    assert.equal(r.stdout, printed(TRICKY));
    assert.ok(pidLine(Buffer.from(r.stderr), marker), r.stderr);
    assert.equal(run([NON_POSIX[shell]!], loginShellLine(shellJoin(['sh', '-c', 'exit 7']), type, newPidMarker())).code, 7);
  });

  test(`with ansible_shell_type ${type}, ${shell} passes any argument vector through (property)`, { skip: missing(shell) }, () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: ARG_CHAR, maxLength: 12 }), { minLength: 1, maxLength: 4 }), (args) => {
        assert.equal(run([NON_POSIX[shell]!], loginShellLine(printArgs(args), type, newPidMarker())).stdout, printed(args));
      }),
      { numRuns: 25 },
    );
  });
}

test('dash and zsh pass any argument vector through a multi-line request (property)', { skip: missing('dash', 'zsh') }, () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: ARG_CHAR, maxLength: 12 }), { minLength: 1, maxLength: 4 }), (args) => {
      const line = `true\n${printArgs(args)}`;
      for (const shell of [['dash'], ['zsh']]) assert.equal(run(shell, loginShellLine(line, 'sh', newPidMarker())).stdout, printed(args), shell[0]);
    }),
    { numRuns: 25 },
  );
});

test('the PID line is found only under its marker: start-up chatter before it is dropped, nothing else passes for it', () => {
  const m = newPidMarker();
  assert.notEqual(m, newPidMarker());
  assert.deepEqual(pidLine(Buffer.from(`${m}:4242\nerr`), m), { pid: '4242', rest: Buffer.from('err') });
  assert.deepEqual(pidLine(Buffer.from(`Welcome to prod${m}:17\n`), m), { pid: '17', rest: Buffer.alloc(0) });
  // an rc file's digits are no PID (a timeout would kill process group -1: everything)
  assert.equal(pidLine(Buffer.from('Welcome to prod4242\n1\nreal error\n'), m), undefined);
  assert.equal(pidLine(Buffer.from(`fish: $$ is not the pid.\necho "${m}:$$" >&2;\n`), m), undefined);
  assert.equal(pidLine(Buffer.from(`${m}:4242`), m), undefined, 'not a line until its newline comes');
});

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
