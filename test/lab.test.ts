/**
 * The lab itself: real sshd hosts, each with its own /etc/kubernetes, /root, /tmp...; nothing on the
 * real machine changes; stop leaves no process, namespace or directory behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { labNetwork, labSupport, openLab, startLab, stopLab, type Lab } from '../src/lab/hosts.js';
import { SshTransport } from '../src/transport/ssh.js';
import { loadInventoryText } from '../src/inventory/load.js';

const support = labSupport();
const skip = support.ok ? false : support.reason!;
let lab: Lab;
let ts: SshTransport[] = [];

const REAL_PATHS = ['/etc/kubernetes', '/var/lib/kubelet', '/var/lib/runbook'];
const realBefore = new Map(REAL_PATHS.map((p) => [p, existsSync(p)]));

before(async () => {
  if (skip) return;
  lab = await startLab({ count: 3, firstAddress: '127.1.202.1', namePrefix: 'lt' });
  ts = await Promise.all(
    lab.hosts.map((h) =>
      SshTransport.connect({ name: h.name, host: h.address, port: h.port, user: h.user, privateKeyPath: lab.privateKeyPath, knownHostsPath: lab.knownHostsPath }),
    ),
  );
});

after(async () => {
  if (skip) return;
  await Promise.all(ts.map((t) => t.close()));
  if (lab && existsSync(lab.dir)) await lab.stop();
});

test('hosts: names, loopback addresses, live sshd PIDs, inventory', { skip }, () => {
  assert.deepEqual(
    lab.hosts.map((h) => [h.name, h.address, h.port, h.user]),
    [
      ['lt-01', labNetwork('127.1.202.1'), 22, 'root'],
      ['lt-02', labNetwork('127.1.202.2'), 22, 'root'],
      ['lt-03', labNetwork('127.1.202.3'), 22, 'root'],
    ],
  );
  for (const h of lab.hosts) assert.match(readFileSync(`/proc/${h.pid}/cmdline`, 'utf8'), /sshd/);
  const { inventory, diagnostics } = loadInventoryText(lab.inventoryYaml(), 'lab.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const e = inventory!.hosts.get('lt-02')!;
  assert.deepEqual([e.address, e.port, e.user, e.privateKeyFile, e.knownHostsFile], [labNetwork('127.1.202.2'), 22, 'root', lab.privateKeyPath, lab.knownHostsPath]);
  // known_hosts lists every host, as OpenSSH writes them
  assert.equal(readFileSync(lab.knownHostsPath, 'utf8').trim().split('\n').length, 3);
  assert.equal(openLab(lab.dir).hosts.length, 3);
});

test('each host has its own /etc/kubernetes; the real machine has none of it', { skip }, async () => {
  const [a, b] = ts as [SshTransport, SshTransport];
  await a.exec(['mkdir', '-p', '/etc/kubernetes/pki']);
  await a.writeAtomic('/etc/kubernetes/pki/ca.crt', 'CA on host 1\n');
  assert.equal(readFileSync(lab.hostPath(lab.hosts[0]!, '/etc/kubernetes/pki/ca.crt'), 'utf8'), 'CA on host 1\n');
  assert.equal(await b.stat('/etc/kubernetes/pki/ca.crt'), null);
  assert.equal((await b.stat('/etc/kubernetes'))?.type, 'directory');
  // prepared from outside, seen inside
  mkdirSync(lab.hostPath(lab.hosts[1]!, '/var/lib/kubelet/pki'), { recursive: true });
  writeFileSync(lab.hostPath(lab.hosts[1]!, '/var/lib/kubelet/pki/kubelet-client-current.pem'), 'pem');
  assert.equal((await b.read('/var/lib/kubelet/pki/kubelet-client-current.pem')).toString(), 'pem');
  assert.equal(await a.stat('/var/lib/kubelet/pki'), null);
  // a name no checkout uses: the lab keeps a checkout under /tmp or /root visible at its own path
  const probe = 'runbook-lab-private-probe';
  for (const p of ['/root', '/tmp', '/var/backups', '/usr/local/sbin', '/var/lib/runbook'].map((d) => `${d}/${probe}`)) {
    await a.writeAtomic(p, 'host1');
    assert.equal(await b.stat(p), null, `${p} leaked to host 2`);
    assert.equal(readFileSync(lab.hostPath(lab.hosts[0]!, p), 'utf8'), 'host1');
  }
  assert.ok(!existsSync(`/root/${probe}`) && !existsSync(`/var/backups/${probe}`) && !existsSync(`/usr/local/sbin/${probe}`));
  for (const p of REAL_PATHS) assert.equal(existsSync(p), realBefore.get(p), `${p} changed on the real machine`);
  // the rest of /etc and /var/lib is the machine's, read-through
  assert.equal((await a.exec(['test', '-f', '/etc/os-release'])).code, 0);
  assert.throws(() => lab.hostPath(lab.hosts[0]!, '/etc/passwd'), /not private/);
});

test("root's login shell is /bin/sh with a fresh home and /usr/local/sbin first on PATH", { skip }, async () => {
  const r = await ts[0]!.exec(['sh', '-c', 'getent passwd root | cut -d: -f7; echo "$HOME"; echo "$PATH"; ls -A /root; readlink /proc/$PPID/exe']);
  const [shell, home, path, ...rest] = r.stdout.trim().split('\n');
  assert.equal(shell, '/bin/sh');
  assert.equal(home, '/root');
  assert.ok(path!.startsWith('/usr/local/sbin:'), path);
  assert.ok(rest.includes('.kube') && !rest.includes('.bashrc'), rest.join(','));
  assert.match(readFileSync('/etc/passwd', 'utf8'), /^root:.*:\/bin\/bash$/m, 'the real /etc/passwd is untouched');
});

test('stop kills the sshds and their sessions, removes the dir, leaves no namespace', { skip }, async () => {
  // a session that outlives its command must not survive the lab either
  await ts[2]!.exec(['sh', '-c', 'setsid sleep 300 >/dev/null 2>&1 < /dev/null & echo $! > /tmp/bg.pid']);
  const bg = Number(readFileSync(lab.hostPath(lab.hosts[2]!, '/tmp/bg.pid'), 'utf8'));
  const ns = new Set(lab.hosts.map((h) => readlinkSync(`/proc/${h.pid}/ns/mnt`)));
  assert.ok(!ns.has(readlinkSync('/proc/self/ns/mnt')));
  await Promise.all(ts.map((t) => t.close()));
  ts = [];
  const { dir, hosts } = lab;
  await stopLab(dir); // by state file, as `runbook lab down` does
  const alive = (pid: number) => {
    try {
      return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  for (const h of hosts) assert.ok(!alive(h.pid), `sshd ${h.pid} still running`);
  assert.ok(!alive(bg), `background session ${bg} still running`);
  const left = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && alive(Number(p)) && ns.has((() => {
    try {
      return readlinkSync(`/proc/${p}/ns/mnt`);
    } catch {
      return '';
    }
  })()));
  assert.deepEqual(left, [], 'processes left in the lab namespaces');
  assert.ok(!existsSync(dir));
  await assert.rejects(SshTransport.connect({ host: hosts[0]!.address, user: 'root', password: 'x', connectTimeoutMs: 1000 }), /connection refused/);
});
