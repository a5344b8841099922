import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { certFields, isDer, opensslFields, readCertDer } from './x509-der.js';
import { tempDir } from './testing.js';
import { packageRoot } from '../paths.js';

/** One openssl-made certificate as DER, self-signed or signed by `ca`, with these -subj and extensions. */
function makeCert(dir: string, o: { subj: string; ext?: string[]; days?: number; serial?: string; key?: string; ca?: { crt: string; key: string }; /** self-signed only */ extraArgs?: string[] }): Buffer {
  const key = o.key ?? join(dir, 'ec.key');
  const out = join(dir, 'cert.der');
  const ext = join(dir, 'ext.cnf');
  writeFileSync(ext, ['[req]', 'distinguished_name = dn', '[dn]', '[v3]', ...(o.ext ?? [])].join('\n') + '\n');
  const common = ['-days', String(o.days ?? 365), '-outform', 'DER', '-out', out, ...(o.serial ? ['-set_serial', o.serial] : []), ...(o.extraArgs ?? [])];
  if (o.ca) {
    const csr = join(dir, 'req.csr');
    execFileSync('openssl', ['req', '-new', '-key', key, '-subj', o.subj, '-config', ext, '-out', csr], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', o.ca.crt, '-CAkey', o.ca.key, '-extfile', ext, '-extensions', 'v3', ...common], { stdio: ['ignore', 'ignore', 'pipe'] });
  } else {
    execFileSync('openssl', ['req', '-x509', '-new', '-key', key, '-subj', o.subj, '-config', ext, '-extensions', 'v3', ...common], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return readFileSync(out);
}

function withKeys<T>(body: (dir: string) => T): T {
  const { dir, cleanup } = tempDir('runbook-x509der-');
  try {
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(dir, 'ec.key')], { stdio: 'ignore' });
    return body(dir);
  } finally {
    cleanup();
  }
}

/** The DER walk read it, and read what OpenSSL reads. */
function assertWalked(der: Buffer, what: string): void {
  const walked = readCertDer(der);
  assert.ok(walked, `${what}: read by the DER walk`);
  assert.deepEqual(walked, opensslFields(der), what);
}

/** The DER walk declined it, and certFields still answers as OpenSSL does. */
function assertDeclined(der: Buffer, what: string): void {
  assert.equal(readCertDer(der), undefined, `${what}: left to OpenSSL`);
  assert.deepEqual(certFields(der), opensslFields(der), what);
}

test('x509-der: kubeadm-like certificates are read by the walk, field for field as OpenSSL reads them', () => {
  withKeys((dir) => {
    const rsaKey = join(dir, 'rsa.key');
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', rsaKey], { stdio: 'ignore' });
    const caExt = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign', 'subjectKeyIdentifier=hash'];
    const caDer = makeCert(dir, { subj: '/CN=kubernetes', ext: caExt, days: 3650, key: rsaKey });
    assertWalked(caDer, 'RSA CA');
    assert.equal(readCertDer(caDer)!.ca, true);
    writeFileSync(join(dir, 'ca.crt'), caDer);
    execFileSync('openssl', ['x509', '-inform', 'DER', '-in', join(dir, 'ca.crt'), '-out', join(dir, 'ca.pem')]);
    const ca = { crt: join(dir, 'ca.pem'), key: rsaKey };
    const leafExt = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth', 'authorityKeyIdentifier=keyid'];
    const api = makeCert(dir, { subj: '/CN=kube-apiserver', ca, ext: [...leafExt, 'subjectAltName=DNS:cp-1,DNS:kubernetes,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1,IP:192.168.0.10,IP:::1,IP:2001:db8::a:0:1'] });
    assertWalked(api, 'apiserver with DNS, IPv4 and IPv6 names');
    assert.deepEqual(readCertDer(api)!.sans, ['cp-1', 'kubernetes', 'kubernetes.default.svc.cluster.local', '10.96.0.1', '192.168.0.10', '0:0:0:0:0:0:0:1', '2001:DB8:0:0:0:A:0:1']);
    assertWalked(makeCert(dir, { subj: '/O=system:masters/CN=kubernetes-admin', ca, ext: ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'] }), 'admin client');
    assertWalked(makeCert(dir, { subj: '/O=system:nodes/CN=system:node:cp-1', ca, ext: ['extendedKeyUsage=clientAuth'] }), 'kubelet client');
    assertWalked(makeCert(dir, { subj: '/C=JP/ST=Tokyo/L=Chiyoda/O=Example Corp/OU=SRE/CN=*.example.com', ca, ext: ['subjectAltName=DNS:*.example.com'] }), 'every short name, a wildcard');
    assertWalked(makeCert(dir, { subj: '/CN=etcd-ca', ext: ['basicConstraints=critical,CA:TRUE,pathlen:0', 'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid'] }), 'CA with a path length and key ids');
    assertWalked(makeCert(dir, { subj: '/CN=no-cert-sign', ext: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature'] }), 'CA:TRUE without keyCertSign is no CA to OpenSSL');
    assert.equal(readCertDer(makeCert(dir, { subj: '/CN=x', ext: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature'] }))!.ca, false);
    assertWalked(makeCert(dir, { subj: '/CN=leaf', ext: ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'subjectKeyIdentifier=hash'] }), 'CA:FALSE written out');
    assertWalked(makeCert(dir, { subj: '/CN=no-extensions', ca }), 'no extensions at all');
    assertWalked(makeCert(dir, { subj: '/CN=far', days: 36_500 }), 'GeneralizedTime (after 2049)');
    assertWalked(makeCert(dir, { subj: '/CN=expired', ca, days: -1 }), 'expired');
    assertWalked(makeCert(dir, { subj: '/CN=high-bit', serial: '0x80ff00' }), 'a serial with its sign byte');
    assertWalked(makeCert(dir, { subj: '/CN=pad', serial: '0x0a' }), 'a one-byte serial');
  });
});

test('x509-der: ECDSA PKIs (kubeadm >= 1.31 encryptionAlgorithm ECDSA-P256 / ECDSA-P384): CA and leaves read by the walk as OpenSSL reads them', () => {
  withKeys((dir) => {
    for (const curve of ['P-256', 'P-384']) {
      const caKey = join(dir, `ca-${curve}.key`);
      execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-out', caKey], { stdio: 'ignore' });
      const caDer = makeCert(dir, { subj: '/CN=kubernetes', key: caKey, days: 3650, ext: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign', 'subjectKeyIdentifier=hash'] });
      assertWalked(caDer, `${curve} CA`);
      assert.equal(readCertDer(caDer)!.ca, true);
      writeFileSync(join(dir, 'ca.der'), caDer);
      execFileSync('openssl', ['x509', '-inform', 'DER', '-in', join(dir, 'ca.der'), '-out', join(dir, 'ca.pem')]);
      const ca = { crt: join(dir, 'ca.pem'), key: caKey };
      // signed with ecdsa-with-SHA256 / SHA384 by the EC CA, on the P-256 leaf key withKeys made
      assertWalked(makeCert(dir, { subj: '/CN=kube-apiserver', ca, ext: ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', 'authorityKeyIdentifier=keyid', 'subjectAltName=DNS:cp-1,DNS:kubernetes,IP:10.96.0.1,IP:::1'] }), `${curve}-signed apiserver`);
      assertWalked(makeCert(dir, { subj: '/O=system:nodes/CN=system:node:cp-1', ca, ext: ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'] }), `${curve}-signed kubelet client`);
      assertWalked(makeCert(dir, { subj: '/CN=expired', ca, days: -1 }), `${curve}-signed, expired`);
    }
  });
});

test('x509-der: unusual certificates are left to OpenSSL, and certFields still answers as it does', () => {
  withKeys((dir) => {
    assertDeclined(makeCert(dir, { subj: '/CN=a\\,b' }), 'a comma OpenSSL escapes');
    assertDeclined(makeCert(dir, { subj: '/CN=\\#hash' }), 'a leading #');
    assertDeclined(makeCert(dir, { subj: '/CN=a+O=b', extraArgs: ['-multivalue-rdn'] }), 'a multi-valued RDN');
    assertDeclined(makeCert(dir, { subj: '/CN=caf\u00e9', extraArgs: ['-utf8'] }), 'non-ASCII');
    assertDeclined(makeCert(dir, { subj: '/CN=x/emailAddress=ops@example.com' }), 'an attribute without a short name here');
    assertDeclined(makeCert(dir, { subj: '/CN=x', ext: ['subjectAltName=email:ops@example.com,URI:spiffe://cluster/ns/a'] }), 'email and URI names');
    assertDeclined(makeCert(dir, { subj: '/CN=x', ext: ['nameConstraints=permitted;DNS:.example.com'] }), 'an extension not read here');
    assertDeclined(makeCert(dir, { subj: '/CN=zero', serial: '0' }), 'serial 0');
  });
});

test('x509-der: not a certificate: the walk declines and OpenSSL words the error', () => {
  assert.equal(readCertDer(Buffer.from('not a certificate')), undefined);
  assert.equal(readCertDer(Buffer.alloc(0)), undefined);
  assert.throws(() => certFields(Buffer.from('not a certificate')));
});

test('x509-der: any printable subject, DNS name and serial: the walk reads what OpenSSL reads, or leaves it to OpenSSL', () => {
  withKeys((dir) => {
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 12 });
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
    fc.assert(
      fc.property(printable, printable, fc.array(label, { minLength: 1, maxLength: 3 }), fc.bigInt({ min: 1n, max: (1n << 150n) - 1n }), (cn, org, labels, serial) => {
        // -subj takes a backslash before any character literally
        const esc = (v: string) => v.replace(/[^A-Za-z0-9]/g, (c) => `\\${c}`);
        const der = makeCert(dir, { subj: `/O=${esc(org)}/CN=${esc(cn)}`, serial: `0x${serial.toString(16)}`, ext: [`subjectAltName=DNS:${labels.join('.')}`] });
        const walked = readCertDer(der);
        const reference = opensslFields(der);
        if (walked) assert.deepEqual(walked, reference);
        else assert.ok(/[,+"\\<>;]|^[# ]| $/.test(cn) || /[,+"\\<>;]|^[# ]| $/.test(org), `declined only for values OpenSSL escapes: ${JSON.stringify([org, cn])}`);
      }),
      { numRuns: 60 },
    );
  });
});

test('x509-der: the corpus of odd encodings (test/fixtures/x509-odd): the walk declines or agrees with OpenSSL, and declines what OpenSSL refuses', () => {
  const root = join(packageRoot, 'test', 'fixtures', 'x509-odd');
  let walked = 0;
  for (const sub of ['leaf', 'ca']) {
    for (const f of readdirSync(join(root, sub)).filter((n) => n.endsWith('.der'))) {
      const der = readFileSync(join(root, sub, f));
      const what = `${sub}/${f}`;
      let reference: ReturnType<typeof opensslFields> | undefined;
      try {
        reference = opensslFields(der);
      } catch {
        assert.equal(readCertDer(der), undefined, `${what}: OpenSSL refuses it, so must the walk`);
        continue;
      }
      const w = readCertDer(der);
      if (w) {
        walked++;
        assert.deepEqual(w, reference, what);
      }
    }
  }
  assert.ok(walked >= 10, `the walk read ${walked} of the corpus: it must still read the well-formed leaves`);
});

/** node-forge's own answer: it reads `der`, and re-encoding what it read gives the same bytes */
function forgeRoundTrips(der: Buffer): boolean {
  const asn1 = createRequire(import.meta.url)('node-forge/lib/asn1.js') as { fromDer(s: string, o: object): unknown; toDer(n: unknown): { getBytes(): string } };
  const raw = der.toString('binary');
  try {
    return asn1.toDer(asn1.fromDer(raw, { strict: true, parseAllBytes: true, decodeBitStrings: false })).getBytes() === raw;
  } catch {
    return false;
  }
}

test('x509-der: the DER check (headers compared in place) says what re-encoding with node-forge says, on the corpus and on mutated certificates', () => {
  const root = join(packageRoot, 'test', 'fixtures', 'x509-odd');
  const corpus = ['leaf', 'ca'].flatMap((sub) => readdirSync(join(root, sub)).filter((n) => n.endsWith('.der')).map((f) => readFileSync(join(root, sub, f))));
  for (const der of corpus) assert.equal(isDer(der), forgeRoundTrips(der), 'corpus');
  withKeys((dir) => {
    const base = makeCert(dir, { subj: '/CN=leaf', ext: ['subjectAltName = DNS:cp-1, IP:10.96.0.1', 'basicConstraints = critical, CA:FALSE'] });
    // a byte replaced, inserted or removed: mostly unreadable, sometimes a BER-only or shifted form
    // 'tag': a tag forge reads by its number in any class (BMPString, INTEGER) or a constructed one
    const edit = fc.record({ at: fc.nat({ max: base.length - 1 }), op: fc.constantFrom('set', 'insert', 'delete', 'long-length', 'tag'), byte: fc.integer({ min: 0, max: 255 }), tag: fc.constantFrom(0x1e, 0x5e, 0x9e, 0x02, 0x82, 0x30, 0x24, 0xa3) });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 2 }), (edits) => {
        let der = Buffer.from(base);
        for (const e of edits) {
          const at = Math.min(e.at, der.length - 1);
          if (e.op === 'set') der[at] = e.byte;
          else if (e.op === 'tag') der[at] = e.tag;
          else if (e.op === 'insert') der = Buffer.concat([der.subarray(0, at), Buffer.from([e.byte]), der.subarray(at)]);
          else if (e.op === 'delete') der = Buffer.concat([der.subarray(0, at), der.subarray(at + 1)]);
          // a short length at `at` written in the long form (BER allows it, DER does not)
          else if (der[at]! < 0x80) der = Buffer.concat([der.subarray(0, at), Buffer.from([0x81]), der.subarray(at)]);
        }
        assert.equal(isDer(der), forgeRoundTrips(der));
      }),
      { numRuns: 3000 },
    );
  });
});
