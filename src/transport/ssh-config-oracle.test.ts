/**
 * The ssh config evaluation against the real thing: random configs (Host and Match blocks,
 * Includes nested and inside blocks, Match exec, final passes) resolved by runbook and by the
 * OpenSSH client's `ssh -G`, which prints what ssh would use. They must agree, errors included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { resolveSshConfig } from './ssh-config.js';
import { machineSshConfigIo } from './ssh-config-io.js';

const ssh = spawnSync('ssh', ['-V'], { encoding: 'utf8' });
const skip = ssh.error ? 'the OpenSSH client (ssh) is not installed' : false;

const ALIASES = ['web-1', 'web-2', 'db', 'A', 'cp-1'];
const SETTINGS = [
  'HostName node-7.example.net',
  'HostName %h.example.net',
  'HostName 10.0.0.5',
  'HostName Mixed.Case',
  'User u1',
  'User u2',
  'Port 2201',
  'Port 2202',
  'ProxyJump j1',
  'ProxyJump none',
  'ProxyCommand nc %h %p',
  'ProxyCommand none',
  'ConnectTimeout 5',
  'ConnectTimeout 7',
  "User 'u2'",
  "ProxyCommand sh -c 'nc %h  %p --x \"a b\"'",
  'ProxyCommand ssh -W %h:%p j#x',
  'IdentityFile /k/one',
  'IdentityFile /k/two',
  'HostKeyAlias web-1',
  // a line that starts with `=`: ssh reads the next word as the keyword
  '=HostName lead-eq.example.net',
  '= User u3',
  // a keyword no ssh knows, and IgnoreUnknown (first value wins; only what it names, case aside)
  'ProxyJum j1',
  'IgnoreUnknown proxyjum',
  'IgnoreUnknown PROXY*,!x',
  'IgnoreUnknown other',
];
const HOST_PATTERNS = ['web-*', '*', '!web-2', 'db', 'A', 'a', '?b', 'cp-?', '*.example.net', 'node-7.example.net', '10.0.0.*'];
const CRITERIA = [
  'host web-*',
  'host *.example.net',
  'host 10.0.0.*',
  '!host db',
  'originalhost web-1,!web-2',
  'originalhost A',
  'user u1',
  '!user u2',
  `localuser ${userInfo().username}`,
  `!localuser ${userInfo().username}`,
  'exec "test -e DIR/yes"',
  '!exec "test -e DIR/yes"',
  'exec "test -e DIR/no"',
  'exec "test -e DIR/flag-%n"',
  'exec "test -e DIR/k-%k"',
  'final',
  'canonical',
  '!final',
  '!canonical',
  'all',
];

type Block = { head?: string; lines: string[] };
const setting = fc.constantFrom(...SETTINGS);
const include = (n: number) => fc.constantFrom(`Include DIR/sub${n}`, 'Include DIR/sub*', 'Include DIR/nothing-here*');
const body = (includes: number) => fc.array(includes > 0 ? fc.oneof({ weight: 4, arbitrary: setting }, { weight: 1, arbitrary: include(includes) }) : setting, { maxLength: 3 });
const head = fc.oneof(
  fc.array(fc.constantFrom(...HOST_PATTERNS), { minLength: 1, maxLength: 3 }).map((p) => `Host ${p.join(' ')}`),
  fc.array(fc.constantFrom(...CRITERIA), { minLength: 1, maxLength: 3 }).map((c) => `Match ${c.join(' ')}`),
);
const file = (includes: number) => fc.tuple(body(includes), fc.array(fc.record({ head, lines: body(includes) }), { maxLength: 4 })).map(([top, blocks]): Block[] => [{ lines: top }, ...blocks]);
const render = (blocks: Block[], dir: string) => blocks.map((b) => [b.head, ...b.lines.map((l) => `  ${l}`)].filter(Boolean).join('\n')).join('\n').replaceAll('DIR', dir) + '\n';

function sshG(config: string, alias: string): Map<string, string> | undefined {
  const r = spawnSync('ssh', ['-G', '-F', config, alias], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) return undefined;
  const out = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+) (.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    if (key === 'identityfile') out.set(key, out.has(key) ? `${out.get(key)} ${m[2]}` : m[2]!);
    else if (!out.has(key)) out.set(key, m[2]!);
  }
  return out;
}

test('random configs resolve as `ssh -G` resolves them', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-sshg-'));
  writeFileSync(join(dir, 'yes'), '');
  writeFileSync(join(dir, 'flag-web-1'), '');
  writeFileSync(join(dir, 'k-web-1'), '');
  writeFileSync(join(dir, 'k-node-7.example.net'), '');
  try {
    fc.assert(
      fc.property(file(1), file(2), file(0), (main, sub1, sub2) => {
        // sub1 may include sub2 (and itself through `sub*`, which both sides must refuse alike)
        writeFileSync(join(dir, 'main'), render(main, dir));
        writeFileSync(join(dir, 'sub1'), render(sub1, dir));
        writeFileSync(join(dir, 'sub2'), render(sub2, dir));
        const text = render(main, dir);
        for (const alias of ALIASES) {
          const want = sshG(join(dir, 'main'), alias);
          let got: ReturnType<typeof resolveSshConfig> | Error;
          try {
            got = resolveSshConfig([{ text, name: 'main', user: true }], alias, { home: '/nonexistent-home', io: machineSshConfigIo() });
          } catch (e) {
            got = e as Error;
          }
          const where = `${alias} in:\n${text}--- sub1:\n${render(sub1, dir)}--- sub2:\n${render(sub2, dir)}`;
          if (!want) {
            assert.ok(got instanceof Error, `ssh -G refused the config; runbook did not, for ${where}`);
            continue;
          }
          if (got instanceof Error) assert.fail(`runbook refused (${got.message}); ssh -G did not, for ${where}`);
          const host = got.hostName ?? alias;
          assert.equal(isIP(host) ? host : host.toLowerCase(), want.get('hostname'), `hostname of ${where}`);
          assert.equal(got.user ?? userInfo().username, want.get('user'), `user of ${where}`);
          assert.equal(String(got.port ?? 22), want.get('port'), `port of ${where}`);
          assert.equal(got.proxyJump, want.get('proxyjump'), `proxyjump of ${where}`);
          assert.equal(got.proxyCommand, want.get('proxycommand') === 'none' ? undefined : want.get('proxycommand'), `proxycommand of ${where}`);
          if (got.identityFiles.length) assert.equal(got.identityFiles.join(' '), want.get('identityfile'), `identityfile of ${where}`);
          assert.equal(got.connectTimeoutMs === undefined ? 'none' : String(got.connectTimeoutMs / 1000), want.get('connecttimeout'), `connecttimeout of ${where}`);
        }
      }),
      { numRuns: Number(process.env.SSHG_RUNS ?? 100) },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Match exec %C is the connection hash ssh computes (this host, the host, the port, the user)', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-sshg-'));
  try {
    for (const alias of ['web-1', 'db']) {
      const probe = resolveSshConfig(`Host *\n  Port 2201\n  User u1\nMatch exec "test -e ${dir}/%C"\n  HostName matched\n`, alias, {
        io: { read: () => undefined, glob: () => [], exec: (c) => (writeFileSync(c.slice('test -e '.length), ''), false) },
      });
      assert.equal(probe.hostName, undefined);
      // the file runbook named with its %C now exists: ssh's own %C must name the same file
      const config = join(dir, 'config');
      writeFileSync(config, `Host *\n  Port 2201\n  User u1\nMatch exec "test -e ${dir}/%C"\n  HostName matched\n`);
      assert.equal(sshG(config, alias)?.get('hostname'), 'matched', alias);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a group-writable included file is accepted or refused as this machine\'s ssh decides (Debian: only a group of its owner alone)', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-sshg-'));
  try {
    for (const [gid, mode] of [[0, 0o664], [100, 0o664], [65534, 0o664], [0, 0o666], [0, 0o644]] as const) {
      const inc = join(dir, `inc-${gid}-${mode.toString(8)}.conf`);
      writeFileSync(inc, 'User from-include\n');
      chownSync(inc, 0, gid);
      chmodSync(inc, mode);
      const main = join(dir, 'main');
      writeFileSync(main, `Include ${inc}\n`);
      const sshSays = sshG(main, 'x')?.get('user');
      let ours: string | undefined;
      try {
        ours = resolveSshConfig(`Include ${inc}\n`, 'x', { io: machineSshConfigIo() }).user;
      } catch {
        ours = undefined;
      }
      assert.equal(ours, sshSays, `gid ${gid} mode ${mode.toString(8)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
