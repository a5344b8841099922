import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2, { type ParsedKey } from 'ssh2';
import { hostKeyAlgorithms, signingOnce } from './ssh-auth.js';
import { tempDir } from '../actions/testing.js';

const { utils } = ssh2;

function parse(file: string): ParsedKey {
  const k = utils.parseKey(readFileSync(file));
  if (k instanceof Error) throw k;
  return Array.isArray(k) ? k[0]! : k;
}

test('signingOnce: every key type signs as ssh2 does (the same bytes where signatures are deterministic, a valid signature for ECDSA)', () => {
  const { dir, cleanup } = tempDir('runbook-sshauth-');
  try {
    const data = Buffer.from('session id and userauth request, as ssh2 hands them to sign()');
    for (const [type, bits] of [['ed25519', ''], ['rsa', '2048'], ['ecdsa', '256'], ['ecdsa', '384'], ['ecdsa', '521']] as const) {
      const file = join(dir, `${type}${bits}`);
      execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', bits] : []), '-N', '', '-f', file]);
      const reference = parse(file);
      const key = signingOnce(parse(file));
      if (type === 'ecdsa') {
        // ECDSA signatures are randomised: each must verify as one ssh2 made
        const sig = key.sign(data);
        assert.ok(Buffer.isBuffer(sig), `${type}${bits}: a signature`);
        assert.equal(reference.verify(data, sig), true, `${type}${bits}: verifies`);
        continue;
      }
      for (const algo of type === 'rsa' ? ['sha256', 'sha512', undefined] : [undefined]) {
        assert.deepEqual(key.sign(data, algo), reference.sign(data, algo), `${type} ${algo ?? 'default hash'}: the same signature`);
        assert.deepEqual(key.sign(data, algo), key.sign(data, algo), `${type}: the key object is reused`);
      }
    }
  } finally {
    cleanup();
  }
});

test('signingOnce: a failed signature is returned as an Error, as ssh2 returns it', () => {
  const { dir, cleanup } = tempDir('runbook-sshauth-');
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
    const key = signingOnce(parse(join(dir, 'k')));
    const r: unknown = key.sign(Buffer.from('x'), 'no-such-hash');
    assert.ok(r instanceof Error);
    // a public key where a private one belongs: ssh2's own words, not a TypeError from inside
    const pub = signingOnce(parse(join(dir, 'k.pub')));
    const p: unknown = pub.sign(Buffer.from('x'));
    assert.ok(p instanceof Error && p.message === 'No private key available', String(p));
  } finally {
    cleanup();
  }
});

test('HostKeyAlgorithms: what ssh2 cannot verify (certificates, security keys) is left out; a list of nothing else is an error', () => {
  // a RHEL crypto policy's list, as /etc/ssh/ssh_config.d may bring it in
  const policy = 'ecdsa-sha2-nistp256,ecdsa-sha2-nistp256-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,ssh-ed25519,ssh-ed25519-cert-v01@openssh.com,rsa-sha2-256';
  assert.deepEqual(hostKeyAlgorithms([], policy), ['ecdsa-sha2-nistp256', 'ssh-ed25519', 'rsa-sha2-256']);
  assert.deepEqual(hostKeyAlgorithms([], '+ssh-ed25519-cert-v01@openssh.com,ssh-dss').slice(-1), ['ssh-dss']);
  assert.deepEqual(hostKeyAlgorithms([], '-ecdsa-*,ssh-rsa'), ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256']);
  assert.throws(() => hostKeyAlgorithms([], 'ssh-ed25519-cert-v01@openssh.com'), /names no host key algorithm .*ssh2.* can verify/);
});
