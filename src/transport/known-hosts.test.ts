import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendKnownHost, checkHostKey, fingerprint, GLOBAL_KNOWN_HOSTS, hostKeyName, hostsFieldMatches, keyTypeOf, knownHostsFor, knownKeyTypes, loadKnownHosts, parseKnownHosts } from './known-hosts.js';

// keys and fingerprints made with ssh-keygen (-lf), hashed line with ssh-keygen -H
const A = 'AAAAC3NzaC1lZDI1NTE5AAAAIAHOYJowN+/o2j8olwPqgZC0ciPsgfYGyDvIcXF526Rh';
const A_FP = 'SHA256:FgyiosIwDARirEzzJzhO19BzIOWBFhC2k8Fr06snIS0';
const B = 'AAAAC3NzaC1lZDI1NTE5AAAAIHHuclfW1p5eOcMPfPZyfODdhxDQW7T0yUAyN/Lad82Z';
const C = 'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGE6X0v/hwaNEFH7xwm3ip3+FzPGW1zayur7UU9mWiijuQcXfRdfx4uIn6ODfRAaYDHi++nalcQMb8Vl3+2+fdw=';
const C_FP = 'SHA256:qOh1/S7HI0HoGXgRbIyGqc0yTmTGp6jGlaXBEUp8sZM';
const HASHED_A_FOR_127_1_0_9 = '|1|mLZuayomxPKAGkOFXJqhQqkVqhw=|ZxzNVCVb/1I4ZvEOxEHtoSBub5s=';
const key = (b64: string) => Buffer.from(b64, 'base64');

test('fingerprints and key types match OpenSSH', () => {
  assert.equal(fingerprint(key(A)), A_FP);
  assert.equal(fingerprint(key(C)), C_FP);
  assert.equal(keyTypeOf(key(A)), 'ssh-ed25519');
  assert.equal(keyTypeOf(key(C)), 'ecdsa-sha2-nistp256');
});

test('host names: plain on port 22, [host]:port otherwise', () => {
  assert.equal(hostKeyName('10.0.0.1', 22), '10.0.0.1');
  assert.equal(hostKeyName('10.0.0.1', 2222), '[10.0.0.1]:2222');
});

test('parses plain, bracketed, comma lists, comments, markers; skips corrupt lines', () => {
  const text = [
    '# comment',
    '',
    `web1,10.0.0.1 ssh-ed25519 ${A}`,
    `[10.0.0.2]:2222 ssh-ed25519 ${B} comment here`,
    `@cert-authority *.example.com ssh-ed25519 ${B}`,
    `@revoked * ssh-ed25519 ${B}`,
    'broken-line-without-key',
    `mismatch ssh-rsa ${A}`,
    `@weird host ssh-ed25519 ${A}`,
  ].join('\n');
  const entries = parseKnownHosts(text, 'kh');
  assert.deepEqual(
    entries.map((e) => [e.line, e.hosts, e.keyType, e.marker ?? '']),
    [
      [3, 'web1,10.0.0.1', 'ssh-ed25519', ''],
      [4, '[10.0.0.2]:2222', 'ssh-ed25519', ''],
      [5, '*.example.com', 'ssh-ed25519', 'cert-authority'],
      [6, '*', 'ssh-ed25519', 'revoked'],
    ],
  );
});

test('pattern matching: wildcards, negation, hashed names', () => {
  assert.ok(hostsFieldMatches('web1,10.0.0.1', '10.0.0.1'));
  assert.ok(hostsFieldMatches('WEB1', 'web1'));
  assert.ok(!hostsFieldMatches('web1,10.0.0.1', '10.0.0.10'));
  assert.ok(hostsFieldMatches('10.0.0.*', '10.0.0.77'));
  assert.ok(hostsFieldMatches('10.0.0.?', '10.0.0.7'));
  assert.ok(!hostsFieldMatches('10.0.0.*,!10.0.0.5', '10.0.0.5'));
  assert.ok(hostsFieldMatches('[10.0.0.2]:2222', '[10.0.0.2]:2222'));
  assert.ok(!hostsFieldMatches('[10.0.0.2]:2222', '10.0.0.2'));
  assert.ok(hostsFieldMatches(HASHED_A_FOR_127_1_0_9, '127.1.0.9'));
  assert.ok(!hostsFieldMatches(HASHED_A_FOR_127_1_0_9, '127.1.0.8'));
});

test('verdicts: ok, changed (same type, other key), unknown (other type only), revoked', () => {
  const entries = parseKnownHosts(
    [`web1,10.0.0.1 ssh-ed25519 ${A}`, `${HASHED_A_FOR_127_1_0_9} ssh-ed25519 ${A}`, `@revoked * ecdsa-sha2-nistp256 ${C}`, `@cert-authority * ssh-ed25519 ${B}`].join('\n'),
    '/x/known_hosts',
  );
  assert.equal(checkHostKey(entries, 'web1', key(A)).status, 'ok');
  assert.equal(checkHostKey(entries, '127.1.0.9', key(A)).status, 'ok');
  const changed = checkHostKey(entries, '10.0.0.1', key(B));
  assert.equal(changed.status, 'changed');
  assert.equal(changed.status === 'changed' && changed.entry.line, 1);
  assert.equal(changed.status === 'changed' && changed.entry.file, '/x/known_hosts');
  // a cert-authority line never vouches for a plain key; the verdict names it (the message explains why it is not enough)
  const viaCa = checkHostKey(entries, 'other', key(B));
  assert.equal(viaCa.status, 'unknown');
  assert.equal(viaCa.status === 'unknown' && viaCa.authority?.line, 4);
  assert.equal(checkHostKey(entries, 'web1', key(C)).status, 'revoked');
  assert.deepEqual(knownKeyTypes(entries, 'web1'), ['ssh-ed25519']);
});

test('appendKnownHost adds one line (after a missing final newline) and the cache sees it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kh-test-'));
  try {
    const file = join(dir, 'sub', 'known_hosts');
    appendKnownHost(file, '[127.0.0.1]:2200', key(A));
    assert.equal(checkHostKey(loadKnownHosts([file]), '[127.0.0.1]:2200', key(A)).status, 'ok');
    writeFileSync(file, readFileSync(file, 'utf8').trimEnd()); // no final newline
    appendKnownHost(file, 'h2', key(B));
    const lines = readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[1], `h2 ssh-ed25519 ${B}`);
    assert.equal(checkHostKey(loadKnownHosts([file, join(dir, 'missing')]), 'h2', key(B)).status, 'ok');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loading for one host name decides exactly as scanning the whole file (2,000 hosts: no quadratic scan)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kh-index-'));
  try {
    const file = join(dir, 'known_hosts');
    const lines = [
      `10.0.0.1,Web-1 ssh-ed25519 ${A}`,
      `[10.0.0.2]:2222 ssh-ed25519 ${B}`,
      `10.0.0.* ecdsa-sha2-nistp256 ${C}`,
      `10.0.0.*,!10.0.0.3 ssh-ed25519 ${B}`,
      `${HASHED_A_FOR_127_1_0_9} ssh-ed25519 ${A}`,
      `@revoked * ssh-ed25519 ${B}`,
      `10.0.0.4 ssh-ed25519 ${A}`,
      `10.0.0.4 ssh-ed25519 ${B}`,
    ];
    for (let i = 0; i < 2000; i++) lines.push(`10.1.${i >> 8}.${i & 255} ssh-ed25519 ${A}`);
    writeFileSync(file, lines.join('\n') + '\n');
    const whole = loadKnownHosts([file]);
    const names = ['10.0.0.1', 'web-1', '[10.0.0.2]:2222', '10.0.0.2', '10.0.0.3', '10.0.0.4', '127.1.0.9', '10.1.7.208', 'elsewhere'];
    for (const name of names) {
      const mine = loadKnownHosts([file], name);
      assert.ok(mine.length < 12, `${name}: ${mine.length} candidate lines, not the whole file`);
      for (const k of [A, B, C]) assert.deepEqual(checkHostKey(mine, name, key(k)), checkHostKey(whole, name, key(k)), `${name} ${k.slice(-6)}`);
      assert.deepEqual(knownKeyTypes(mine, name), knownKeyTypes(whole, name), name);
    }
    // every one of the 2,000 plain hosts gets its own line (and the lines no name lookup can rule out), not the file
    for (let i = 0; i < 2000; i += 97) assert.deepEqual(knownKeyTypes(loadKnownHosts([file], `10.1.${i >> 8}.${i & 255}`), `10.1.${i >> 8}.${i & 255}`), ['ssh-ed25519']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("knownHostsFor: the user's files then the global ones (a fleet's keys from configuration management), looked up by HostKeyAlias when there is one; a new key is recorded in the user's file", () => {
  const dir = mkdtempSync(join(tmpdir(), 'kh-test-'));
  try {
    const user = join(dir, 'known_hosts');
    const global = join(dir, 'ssh_known_hosts');
    writeFileSync(global, `[10.0.0.5]:2222 ssh-ed25519 ${A}\nbastion-prod ssh-ed25519 ${B}\n`);
    const viaGlobal = knownHostsFor({ host: '10.0.0.5', port: 2222, knownHostsPaths: [user], globalKnownHostsPaths: [global, join(dir, 'absent')] });
    assert.equal(viaGlobal.keyName, '[10.0.0.5]:2222');
    assert.equal(checkHostKey(viaGlobal.entries, viaGlobal.keyName, key(A)).status, 'ok');
    assert.deepEqual([viaGlobal.files[0], viaGlobal.shown], [user, [user, global]]);
    // HostKeyAlias: the alias as written, with no port added (ssh's get_hostfile_hostname_ipaddr)
    const aliased = knownHostsFor({ host: '10.9.9.9', port: 2200, knownHostsPaths: [user], globalKnownHostsPaths: [global], hostKeyAlias: 'bastion-prod' });
    assert.equal(aliased.keyName, 'bastion-prod');
    assert.equal(checkHostKey(aliased.entries, aliased.keyName, key(B)).status, 'ok');
    // the defaults: ~/.ssh/known_hosts and known_hosts2, then /etc/ssh/ssh_known_hosts and ssh_known_hosts2
    assert.deepEqual(knownHostsFor({ host: 'h', port: 22 }).files.map((f) => f.replace(/^.*\/\.ssh\//, '~/.ssh/')), ['~/.ssh/known_hosts', '~/.ssh/known_hosts2', ...GLOBAL_KNOWN_HOSTS]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
