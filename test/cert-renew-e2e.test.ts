/**
 * The flagship runbooks end to end: runbooks/cert-renew.yaml and cert-check.yaml run by the real CLI
 * (a child process) over SSH against simulated kubeadm nodes on lab hosts (src/lab/sim-host.ts), one
 * host per scenario, several scenarios at once (CASE_SLOTS); the real kubectl proves the API server answers.
 * Failures are forced from the test side (a broken emulated binary in /usr/local/sbin, a file where
 * the backup directory should be), never through a runbook variable: the node must come back
 * byte-identical and the run must report "rolled back" (exit 6).
 * The cases marked `lb` (kubeadm 1.11, 1.18, 1.28, 1.30) run behind a load balancer (a TCP proxy on another
 * loopback address, :8443) with their API server on :16443: every kubeconfig must name after the run the
 * server it named before, whatever kubeadm regenerated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { treeSnapshot } from '../src/lab/tree-snapshot.js';
import type { Lab, LabHost } from '../src/lab/hosts.js';
import { installSimHost, installSimCluster, FAST_SIM, type EtcdctlChoice, type SimHost } from '../src/lab/sim-host.js';
import { packageRoot } from '../src/lab/sim/paths.js';
import { DAY, issue, kubeconfigYaml, parseKubeconfig, readCertFile, readPem } from '../src/lab/sim/pki.js';
import { atLeast } from '../src/lab/sim/node.js';
import { isHAScenario, type ScenarioName } from '../src/lab/sim/index.js';
import { waitFor } from '../src/lab/wait.js';
import { lab, replaceCommand, runCli, stopAgents, useLab } from './support/lab.js';
import type { Ran as Run } from './support/run.js';

const RENEW = join(packageRoot, 'runbooks/cert-renew.yaml');
const CHECK = join(packageRoot, 'runbooks/cert-check.yaml');

/**
 * One lab host per case; an HA case is one cluster on several hosts (one real etcd member each).
 * etcdctl: what the hosts have on their PATH (default: the machine's real etcdctl 3.4, which prints
 * `endpoint health` on stderr; `emulated` prints etcdctl 3.5's format on stdout; `none`: no etcdctl).
 */
const ALL_CASES: { id: string; scenario: ScenarioName; hosts: number; etcdctl?: EtcdctlChoice; lb?: boolean }[] = [
  { id: 'seed2', scenario: 'seed2-1.11-docker', hosts: 1, etcdctl: 'emulated', lb: true },
  { id: 'seed1', scenario: 'seed1-1.18', hosts: 1, lb: true },
  { id: 'expired', scenario: 'all-expired-1.28', hosts: 1 },
  { id: 'expiring', scenario: 'expiring-10d-1.28', hosts: 1, lb: true },
  { id: 'superadmin', scenario: 'super-admin-1.30', hosts: 1, etcdctl: 'none', lb: true },
  { id: 'healthy', scenario: 'healthy-1.28', hosts: 1 },
  { id: 'ha', scenario: 'ha-expiring-1.29', hosts: 3 },
  { id: 'ha-expired', scenario: 'ha-expired-1.28', hosts: 3 },
  { id: 'ha-docker', scenario: 'ha-expired-1.18-docker', hosts: 2 },
  { id: 'ha-fail', scenario: 'ha-expired-1.28', hosts: 2 },
  { id: 'ha-partial', scenario: 'ha-partial-1.28', hosts: 3 },
  { id: 'fail-confs', scenario: 'expiring-10d-1.28', hosts: 1 },
  { id: 'external', scenario: 'external-etcd-1.28', hosts: 1 },
  { id: 'fail-backup', scenario: 'all-expired-1.28', hosts: 1 },
  { id: 'fail-renew', scenario: 'all-expired-1.28', hosts: 1 },
  { id: 'fail-kubeconfig', scenario: 'seed2-1.11-docker', hosts: 1 },
  { id: 'fail-restart', scenario: 'expiring-10d-1.28', hosts: 1 },
  { id: 'fail-verify', scenario: 'super-admin-1.30', hosts: 1 },
  { id: 'fail-heartbeat', scenario: 'seed1-1.18', hosts: 1 },
];
/** CERT_E2E_ONLY=ha,ha-partial runs only those cases (while working on them; CI runs all) */
const ONLY = (process.env.CERT_E2E_ONLY ?? '').split(',').filter(Boolean);
const CASES = ONLY.length ? ALL_CASES.filter((c) => ONLY.includes(c.id)) : ALL_CASES;
/** apply options per case: the two-node HA recovery runs with --forks 1 (fewer forks than etcd members) */
const APPLY_ARGS: Record<string, string[]> = { 'ha-docker': ['--forks', '1'] };

const sims: SimHost[] = [];
const hostsOf = new Map<string, LabHost[]>();

// ---- a control plane behind a load balancer, on a port of its own (cases with `lb`) ----
/** the node's API server port: not kubeadm's default 6443, which kubeadm writes unless told otherwise */
const LB_API_PORT = 16443;
/** the load balancer's port */
const LB_PORT = 8443;
const KUBECONFIGS = ['admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf', 'kubelet.conf'];
const proxies: Server[] = [];
/** each lb host's kubeconfig servers before the run (file → URL), which every run must leave as they are */
const serversBefore = new Map<LabHost, Record<string, string>>();

/** the load balancer's address: the host's, 200 further in its /24 (lab hosts take the first addresses of the block) */
const lbAddress = (h: LabHost) => h.address.replace(/\.(\d+)$/, (_m, d: string) => `.${Number(d) + 200}`);

function kubeconfigServers(h: LabHost): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of KUBECONFIGS) {
    const p = lab.hostPath(h, `/etc/kubernetes/${f}`);
    if (existsSync(p)) out[f] = parseKubeconfig(readFileSync(p, 'utf8')).server;
  }
  return out;
}

/** a TCP proxy, the load balancer: <lb address>:LB_PORT → the node's API server */
function startLoadBalancer(h: LabHost): Promise<void> {
  const srv = createServer((down) => {
    const up = connect({ host: h.address, port: LB_API_PORT });
    down.pipe(up).pipe(down);
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
  });
  proxies.push(srv);
  return new Promise((resolve, reject) => srv.once('error', reject).listen(LB_PORT, lbAddress(h), () => resolve()));
}

/**
 * The kubeconfigs as `kubeadm init --control-plane-endpoint <lb>:8443` wrote them (controller-manager.conf and
 * scheduler.conf at the local endpoint from 1.19.1, kubernetes#94398); on 1.2x and later kubelet.conf embeds a
 * client certificate expiring in 10 days, as on a cluster born before kubeadm 1.17 (kubelet-finalize), so that
 * the run regenerates it there too. Root's kubeconfig is admin.conf.
 */
async function behindLoadBalancer(sim: SimHost): Promise<void> {
  const h = sim.host;
  await startLoadBalancer(h);
  const lb = `https://${lbAddress(h)}:${LB_PORT}`;
  const local = `https://${h.address}:${LB_API_PORT}`;
  const kd = lab.hostPath(h, '/etc/kubernetes');
  if (atLeast(sim.node.version, '1.20.0')) {
    const ca = readPem(join(kd, 'pki'), 'ca');
    const user = `system:node:${h.name}`;
    const pem = await issue({ cn: user, orgs: ['system:nodes'], usage: 'client', notBefore: new Date(Date.now() - 355 * DAY), notAfter: new Date(Date.now() + 10 * DAY) }, ca);
    writeFileSync(join(kd, 'kubelet.conf'), kubeconfigYaml({ server: lb, caCert: ca.cert, user, client: pem }), { mode: 0o600 });
  }
  for (const f of KUBECONFIGS) {
    const p = join(kd, f);
    if (!existsSync(p)) continue;
    const local19 = atLeast(sim.node.version, '1.19.1') && (f === 'controller-manager.conf' || f === 'scheduler.conf');
    writeFileSync(p, readFileSync(p, 'utf8').replace(/^( *server:).*$/m, `$1 ${local19 ? local : lb}`));
  }
  cpSync(join(kd, 'admin.conf'), lab.hostPath(h, '/root/.kube/config'));
  serversBefore.set(h, kubeconfigServers(h));
}

/**
 * CERT_E2E_KEEP=dir (to chase a flaky case): every CLI run's output, timed, in <dir>/<case>.cli.log, and
 * each node's logs (kubelet journal, container logs: /var/log/sim) copied to <dir>/<case>/<host> at the end
 */
const KEEP = process.env.CERT_E2E_KEEP;
if (KEEP) mkdirSync(KEEP, { recursive: true });

/**
 * How the cases share the machine. The clusters whose etcd peer certificates have expired go first:
 * their members retry the peer handshake many times a second (the real etcd 3.4 does: one member of a
 * 3-member cluster opened or accepted 84 connections a second), each refused handshake costs an RSA
 * signature, until a run renews them (the simulator runs such members at nice 19: src/lab/sim/etcd.ts).
 * At most CASE_SLOTS cases run at once, at most STORM_SLOTS of them such clusters, each case with its
 * nodes up only while it runs. With every case at once, a plan took three minutes on one machine, and on
 * a slower one the nodes' agents and etcd members alone kept the load at 45-50 and
 * every case ran out of time. CERT_E2E_SLOTS sets CASE_SLOTS.
 */
const CASE_SLOTS = Math.max(1, Number(process.env.CERT_E2E_SLOTS ?? 4));
const STORM_SLOTS = Math.min(2, CASE_SLOTS);
const PEERS_EXPIRED = new Set(CASES.filter((c) => /^ha-(expired|partial)-/.test(c.scenario)).map((c) => c.id));

/** Each case of `order` started as soon as a slot allows it, in that order; its outcome by id. */
function schedule(order: string[], run: (id: string) => Promise<void>): Map<string, Promise<void>> {
  const pending = [...order];
  let running = 0;
  let storms = 0;
  const outcome = new Map<string, Promise<void>>();
  const settle = new Map<string, { resolve(): void; reject(e: unknown): void }>();
  for (const id of order) outcome.set(id, new Promise<void>((resolve, reject) => settle.set(id, { resolve, reject })));
  const next = (): void => {
    for (let i = 0; i < pending.length && running < CASE_SLOTS; ) {
      const id = pending[i]!;
      const storm = PEERS_EXPIRED.has(id);
      if (storm && storms >= STORM_SLOTS) {
        i++;
        continue;
      }
      pending.splice(i, 1);
      running++;
      if (storm) storms++;
      const { resolve, reject } = settle.get(id)!;
      run(id)
        .then(resolve, reject)
        .finally(() => {
          running--;
          if (storm) storms--;
          next();
        });
    }
  };
  next();
  return outcome;
}

const cli = async (args: string[], stateKey: string) => {
  const t0 = new Date().toISOString();
  // the lab's kubelets report every second (FAST_SIM): a kubelet that has not within 30 s never will.
  // 15 min: a three-node HA apply, one node at a time, took over 5 min in CI on two loaded cores
  const r: Run = await runCli([...args, '-e', 'manifest_check_period=1s', '-e', 'ready_within=30'], stateKey, 900_000);
  if (KEEP) appendFileSync(join(KEEP, `${stateKey}.cli.log`), `### ${t0} .. ${new Date().toISOString()} ${args.join(' ')} => ${r.code}\n${r.out}\n`);
  return r;
};

const limit = (id: string) => hostsOf.get(id)!.map((h) => h.name).join(',');
const apply = (id: string, runbook = RENEW, extra: string[] = []) => cli(['apply', runbook, '-l', limit(id), ...(runbook === RENEW ? APPLY_ARGS[id] ?? [] : []), ...extra], id);
const plan = (id: string) => cli(['plan', RENEW, '-l', limit(id)], id);

/** sha256, mode or link target of every entry under the node's /etc/kubernetes, /var/lib/kubelet/pki and root's kubeconfig */
function snapshot(h: LabHost): Map<string, string> {
  // root's kubeconfig, not its directory: kubectl keeps a discovery cache beside it
  return treeSnapshot(['/etc/kubernetes', '/var/lib/kubelet/pki', '/root/.kube/config'], (r) => lab.hostPath(h, r), { markAbsent: true });
}

function kubectl(h: LabHost, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('kubectl', ['--kubeconfig', lab.hostPath(h, '/etc/kubernetes/admin.conf'), '--request-timeout=10s', ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? 1 : 0, out: stdout + stderr }),
    );
  });
}


/** the real kubectl, on this machine, with the node's admin.conf against the host's address */
async function serverVersion(h: LabHost): Promise<string> {
  const r = await waitFor(`kubectl version on ${h.name}`, async () => {
    const x = await kubectl(h, 'version');
    return x.code === 0 && x.out.includes('Server Version') ? x : false;
  }, 60_000, 300);
  return r.out;
}

/** the API server and etcd serve the certificates that are on disk now (they were restarted after renewal) */
async function servesCurrentCert(sim: SimHost): Promise<void> {
  const file = lab.hostPath(sim.host, '/etc/kubernetes/pki/apiserver.crt');
  await waitFor(`${sim.host.name}'s API server to serve the renewed certificate`, () => sim.status()?.apiserver.servingSerial === readCertFile(file).serial, 60_000, 300);
  if (sim.node.externalEtcd) return;
  const etcdFile = lab.hostPath(sim.host, '/etc/kubernetes/pki/etcd/server.crt');
  await waitFor(`${sim.host.name}'s etcd to serve the renewed certificate`, () => sim.status()?.etcd.servingSerial === readCertFile(etcdFile).serial, 60_000, 300);
}

/** the real etcdctl 3.4 on this machine, with node h's healthcheck-client certificate: every member of its cluster healthy */
function etcdClusterHealthy(sim: SimHost): Promise<string> {
  const pki = (f: string) => lab.hostPath(sim.host, `/etc/kubernetes/pki/etcd/${f}`);
  const args = ['--endpoints', `https://${sim.host.address}:${sim.node.etcdPort}`, '--cacert', pki('ca.crt'), '--cert', pki('healthcheck-client.crt'), '--key', pki('healthcheck-client.key'), 'endpoint', 'health', '--cluster'];
  return new Promise((resolve) => execFile('/usr/bin/etcdctl', args, { timeout: 30_000 }, (err, stdout, stderr) => resolve(`${err ? `exit ${(err as { code?: unknown }).code} ` : ''}${stdout}${stderr}`)));
}

const recap = (out: string) => /(\d+) hosts?: ok=\d+ changed=(\d+) failed=(\d+)/.exec(out);

/** apply with --json: the commands that ran, one `$ ...` line each, and the total of changed steps */
interface JsonEvent {
  kind: string;
  runId?: string;
  commands?: string[];
  hosts?: string[];
  name?: string;
  recap?: { host: string; changed: number; timeToRecoverMs?: number }[];
}

/** apply with --json: the commands that ran, one `$ ...` line each, and the total of changed steps */
async function applyJson(id: string): Promise<{ code: number; commands: string; changed: number; out: string; events: JsonEvent[]; runId: string }> {
  const r = await apply(id, RENEW, ['--json']);
  const events = r.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as JsonEvent);
  const commands = events.filter((e) => e.kind === 'step-end').flatMap((e) => (e.commands ?? []).map((c) => `$ ${c}`)).join('\n');
  const end = events.find((e) => e.kind === 'run-end');
  return { code: r.code, commands, changed: (end?.recap ?? []).reduce((n, x) => n + x.changed, 0), out: r.out, events, runId: end?.runId ?? '' };
}

/**
 * A case's nodes, made and started when its turn comes (HA: one cluster, the init node first, then the
 * joined ones); they stop when the case ends (endCase).
 */
async function bringUp(id: string): Promise<void> {
  const c = CASES.find((x) => x.id === id)!;
  const hs = hostsOf.get(id)!;
  const opts = { ...FAST_SIM, ...(c.etcdctl ? { etcdctl: c.etcdctl } : {}), ...(c.lb ? { apiPort: LB_API_PORT, certSANs: [lbAddress(hs[0]!)] } : {}) };
  if (isHAScenario(c.scenario)) sims.push(...(await installSimCluster(lab, hs, c.scenario, opts)));
  else sims.push(await installSimHost(lab, hs[0]!, c.scenario, opts));
  if (c.lb) await behindLoadBalancer(sims.find((x) => x.host === hs[0])!);
  await settled(hs);
}

/**
 * Until what a case compares (snapshot) has not changed for `quietMs`: a kubelet's first start stores
 * its client certificate a moment after the node is up, and a rollback compared against a snapshot taken
 * before that would find the kubelet's later file.
 */
async function settled(hs: LabHost[], quietMs = 4_000): Promise<void> {
  const now = () => hs.map((h) => JSON.stringify([...snapshot(h)]));
  let last = now();
  let since = Date.now();
  await waitFor(`${hs.map((h) => h.name).join(', ')} to settle after start`, () => {
    const seen = now();
    if (seen.some((x, i) => x !== last[i])) {
      last = seen;
      since = Date.now();
      return false;
    }
    return Date.now() - since >= quietMs;
  }, 120_000, 500);
}

const skip = useLab({
  start: { count: CASES.reduce((n, c) => n + c.hosts, 0), firstAddress: '127.1.230.1', namePrefix: 'cr' },
  tmp: 'runbook-cert-e2e-',
  inventory: (l: Lab) => [l.inventoryYaml().trimEnd(), '  children:', '    control_plane:', '      hosts:', ...l.hosts.map((h) => `        ${h.name}: {}`)].join('\n') + '\n',
  setup: async () => {
    let i = 0;
    for (const c of CASES) hostsOf.set(c.id, lab.hosts.slice(i, (i += c.hosts)));
  },
  teardown: async () => {
    for (const p of proxies) p.close();
    await stopAgents(sims);
    // a node whose setup failed early has no logs: copy what there is, never hiding the failure
    if (KEEP) for (const [id, hs] of hostsOf) for (const h of hs) if (existsSync(join(h.root, 'var/log/sim'))) cpSync(join(h.root, 'var/log/sim'), join(KEEP, id, h.name), { recursive: true });
  },
});


/** version-specific commands that plan must list and apply must then run */
const EXPECTED: Record<string, RegExp[]> = {
  // the address is the lab's (RUNBOOK_LAB_OCTET moves it): checked against the host in renews()
  // 1.11: one kubeconfig phase per file moved aside (not `all`, which would check kubelet.conf's load balancer URL)
  seed2: [
    /\$ kubeadm alpha phase certs all --cert-dir \/etc\/kubernetes\/pki --apiserver-advertise-address 127\.\d+\.230\.1 --apiserver-cert-extra-sans \S+/,
    ...['admin', 'controller-manager', 'scheduler'].map((p) => new RegExp(`\\$ kubeadm alpha phase kubeconfig ${p} --kubeconfig-dir /etc/kubernetes --cert-dir /etc/kubernetes/pki --apiserver-advertise-address 127\\.\\d+\\.230\\.1 --apiserver-bind-port ${LB_API_PORT}(?:\\s|$)`)),
  ],
  seed1: [/\$ kubeadm alpha certs renew apiserver /, /\$ kubeadm alpha certs renew admin\.conf /, new RegExp(`\\$ kubeadm init phase kubeconfig kubelet .*--apiserver-bind-port ${LB_API_PORT} --node-name `)],
  expired: [/\$ kubeadm certs renew apiserver /, /\$ kubeadm certs renew etcd-server /, /\$ kubeadm certs renew admin\.conf /],
  expiring: [/\$ kubeadm certs renew apiserver /, /\$ kubeadm certs renew scheduler\.conf /, /\$ kubeadm init phase kubeconfig kubelet /],
  superadmin: [/\$ kubeadm certs renew apiserver /, /\$ kubeadm certs renew super-admin\.conf /, /\$ kubeadm init phase kubeconfig kubelet /],
  ha: [/\$ kubeadm certs renew apiserver /, /\$ kubeadm certs renew super-admin\.conf /],
  'ha-expired': [/\$ kubeadm certs renew etcd-peer /, /\$ kubeadm certs renew apiserver /],
  'ha-docker': [/\$ kubeadm alpha certs renew etcd-peer /, /\$ kubeadm init phase kubeconfig kubelet /],
  'ha-partial': [/\$ kubeadm certs renew etcd-peer /, /\$ kubeadm certs renew apiserver /],
  external: [/\$ kubeadm certs renew apiserver /, /\$ kubeadm certs renew front-proxy-client /, /\$ kubeadm certs renew admin\.conf /],
};
/** commands that must not run: with external etcd kubeadm renews no etcd certificate and no apiserver-etcd-client */
const NEVER: Record<string, RegExp> = { external: /\$ kubeadm certs renew (etcd-\S+|apiserver-etcd-client) / };

/** which path plan and apply say the cluster takes (the step that ran, not the one skipped) */
const PATH: Record<string, RegExp> = {
  ha: /one node at a time: no etcd peer certificate has expired/,
  'ha-expired': /HA recovery: etcd has 3 members and the etcd peer certificate has expired on \S+, \S+, \S+, which leaves no quorum/,
  'ha-docker': /HA recovery: etcd has 2 members/,
  'ha-partial': /one node at a time, expired members first: the etcd peer certificate has expired on (\S+), but the other 2 of 3 members still hold the quorum/,
  external: /External etcd: no etcd certificate is renewed here[\s\S]*apiserver-etcd-client: \d+ days left: renew it with the external etcd/,
};

async function renews(id: string): Promise<string> {
  const hs = hostsOf.get(id)!;
  const check0 = await apply(id, CHECK);
  assert.equal(check0.code, 4, `cert-check before renewal must fail inside the window:\n${check0.out}`);
  assert.match(check0.out, /expiring within 30d \(days left, soonest first\): \S+ -?\d+/);

  const p = await plan(id);
  assert.equal(p.code, 2, p.out);
  for (const re of EXPECTED[id]!) assert.match(p.out, re, `plan does not list ${re}`);
  if (id !== 'seed2') assert.doesNotMatch(p.out, /\$ kubeadm (alpha|init) phase certs/);
  if (PATH[id]) assert.match(p.out, PATH[id], `plan does not say which path the cluster takes:\n${p.out}`);

  const a = await applyJson(id);
  assert.equal(a.code, 0, a.out);
  if (id === 'seed2') assert.ok(a.commands.includes(`--apiserver-advertise-address ${hs[0]!.address} `), a.commands);
  // every kubeconfig names the API server it named before the run: the load balancer stays the load balancer
  for (const h of hs) if (serversBefore.has(h)) assert.deepEqual(kubeconfigServers(h), serversBefore.get(h), `${h.name}'s kubeconfig servers changed:\n${a.commands}`);
  for (const re of EXPECTED[id]!) assert.match(a.commands, re, `apply did not run ${re}`);
  if (NEVER[id]) assert.doesNotMatch(a.commands, NEVER[id], a.commands);
  // time to recover, per node, in the run's recap (the journal's run-end and each host-end)
  const rows = a.events.find((e) => e.kind === 'run-end')?.recap ?? [];
  for (const h of hs) assert.ok((rows.find((r) => r.host === h.name)?.timeToRecoverMs ?? 0) > 0, `no time to recover for ${h.name}:\n${JSON.stringify(rows)}`);
  if (id === 'ha-partial') {
    // the member whose peer certificate expired is renewed, restarted and verified before the others
    const expired = PATH[id]!.exec(p.out)![1]!;
    assert.equal(expired, hs[2]!.name);
    const rolling = a.events.findIndex((e) => e.kind === 'play-start' && e.name === 'Renew, restart and verify, one control-plane node at a time');
    const firstBatch = a.events.slice(rolling).find((e) => e.kind === 'batch-start');
    assert.deepEqual(firstBatch?.hosts, [expired], a.out);
  }
  for (const h of hs) assert.match(await serverVersion(h), /Server Version: v1\.\d+\.\d+/);
  for (const s of sims.filter((x) => hs.includes(x.host))) {
    await servesCurrentCert(s);
    if (s.node.externalEtcd) continue; // no local member, no pki/etcd: the API server's answer shows it reaches its etcd
    const health = await etcdClusterHealthy(s);
    assert.equal(health.match(/ is healthy: /g)?.length, hs.length, `etcd endpoint health --cluster on ${s.host.name}:\n${health}`);
  }
  // kubeadm >= 1.17 with a regenerated kubelet.conf: it points at the kubelet's rotating certificate (kubelet-finalize)
  if (['seed1', 'ha-docker', 'expiring', 'superadmin'].includes(id)) {
    for (const h of hs) {
      const conf = readFileSync(lab.hostPath(h, '/etc/kubernetes/kubelet.conf'), 'utf8');
      assert.match(conf, /^ +client-certificate: \/var\/lib\/kubelet\/pki\/kubelet-client-current\.pem$/m, `${h.name}'s kubelet.conf:\n${conf}`);
      assert.doesNotMatch(conf, /client-certificate-data/);
    }
  }
  // the node's own kubectl (root's ~/.kube/config) is the new admin.conf
  for (const h of hs) assert.equal(readFileSync(lab.hostPath(h, '/root/.kube/config'), 'utf8'), readFileSync(lab.hostPath(h, '/etc/kubernetes/admin.conf'), 'utf8'));

  const again = await applyJson(id);
  assert.equal(again.code, 0, again.out);
  assert.equal(again.changed, 0, `second apply changed something:\n${again.out}`);
  // cert-check --json: exit 0, and the report (every certificate, days left, soonest first) in the x509 step's summary
  const check1 = await apply(id, CHECK, ['--json']);
  assert.equal(check1.code, 0, check1.out);
  const report = check1.out.split('\n').filter((l) => l.startsWith('{"kind":"step-end"') && l.includes('"type":"x509"')).map((l) => (JSON.parse(l) as { summary: string }).summary);
  assert.equal(report.length, hs.length, check1.out);
  for (const r of report) assert.match(r, /^\d+ certificates \(days left: (\S+ \d+, )+\S+ \d+\)$/);
  return a.runId;
}

/**
 * A renewal, then `runbook rollback ID`: every node byte-identical to before the run, and what the API
 * server and etcd serve (6443, 2379) is the restored certificate on disk, read from the node's agent.
 */
async function renewsThenRollsBack(id: string): Promise<void> {
  const hs = hostsOf.get(id)!;
  const before = hs.map((h) => snapshot(h));
  const runId = await renews(id);
  const rb = await cli(['rollback', runId, '--json'], id);
  assert.equal(rb.code, 0, rb.out);
  hs.forEach((h, i) => assert.deepEqual(snapshot(h), before[i], `${h.name} is not byte-identical after runbook rollback`));
  // the rollback read the API server's address and port and the etcd member's URL from the restored
  // manifests: a wrong or empty one would go unseen below (nothing served is accepted on expired certificates)
  const served = rb.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as JsonEvent & { host?: string })
    .filter((e) => e.kind === 'step-end' && e.name === 'The API server and etcd serve the restored certificates (rollback)');
  for (const s of sims.filter((x) => hs.includes(x.host))) {
    const cmd = served.find((e) => e.host === s.host.name)?.commands?.join('\n') ?? '';
    assert.ok(cmd.endsWith(` sh ${s.host.address} 6443 /etc/kubernetes https://${s.host.address}:${s.node.etcdPort} ${id === 'ha' ? 'strict' : 'down-ok'}`), `${s.host.name}: ${cmd.slice(-200)}`);
  }
  for (const s of sims.filter((x) => hs.includes(x.host))) {
    const pki = (f: string) => readCertFile(lab.hostPath(s.host, `/etc/kubernetes/pki/${f}`));
    // every etcd member restarted on its restored files: it serves the restored certificate
    await waitFor(`${s.host.name}'s etcd to serve the restored etcd/server.crt`, () => s.status()?.etcd.servingSerial === pki('etcd/server.crt').serial, 60_000, 300);
    // the API server too, unless the restored peer certificates leave etcd without a quorum (the
    // cluster is back as it was before the run: nothing answers on 6443, and no renewed one either)
    const noQuorum = pki('etcd/peer.crt').notAfter.getTime() < Date.now();
    await waitFor(
      `${s.host.name}'s API server to serve the restored apiserver.crt${noQuorum ? ' or nothing' : ''}`,
      () => {
        const api = s.status()?.apiserver;
        return api?.servingSerial === pki('apiserver.crt').serial || (noQuorum && api?.listening === false && api.servingSerial === undefined);
      },
      60_000,
      300,
    );
  }
}

async function rollsBack(id: string, inject: (h: LabHost) => void, stepRe: RegExp, opts: { changedNothing?: boolean } = {}): Promise<void> {
  const h = hostsOf.get(id)![0]!;
  const sim = sims.find((s) => s.host === h)!;
  await waitFor(`${h.name}'s agent to report`, () => sim.status()?.pods.length === 4, 60_000, 300);
  const before = snapshot(h);
  const restarts = sim.status()!.kubelet.restarts;
  inject(h);
  const a = await apply(id);
  assert.equal(a.code, 6, a.out);
  assert.match(a.out, stepRe, a.out);
  assert.match(a.out, /rolled back/i);
  assert.deepEqual(snapshot(h), before, `${h.name} is not byte-identical after the rollback`);
  // a node the run never changed is not touched by the rollback either: its kubelet keeps running
  if (opts.changedNothing) assert.equal(sim.status()!.kubelet.restarts, restarts, `the rollback restarted the kubelet of ${h.name}, which the run had not changed:\n${a.out}`);
}

/**
 * HA recovery with a failure in its middle: node 2's kubelet stops when the etcd members are about to
 * restart together. The run stops on every node (exit 6) naming node 2 and why; node 2 is rolled back
 * by the run, and `runbook rollback ID` then puts every node back byte-identical.
 */
async function haFailsThenRollsBack(): Promise<void> {
  const hs = hostsOf.get('ha-fail')!;
  const before = hs.map((h) => snapshot(h));
  // node 2: the first `systemctl restart kubelet` stops the kubelet instead (once; the rollback's restart is real)
  replaceCommand(hs[1]!, 'systemctl', 'if [ "$1" = restart ] && [ ! -e /tmp/.kubelet-stopped ]; then : > /tmp/.kubelet-stopped; exec /usr/local/sbin/.systemctl-real stop kubelet; fi');
  const a = await apply('ha-fail');
  assert.equal(a.code, 6, a.out);
  assert.match(a.out, new RegExp(`\\[${hs[1]!.name}\\] +failed .*Kubelet is active`), a.out);
  assert.match(a.out, new RegExp(`${hs[1]!.name} +rolled-back`), a.out);
  // on_failure: rollback_all: node 1, which had finished its part, is rolled back by the same run, and
  // the message says which node failed and why
  assert.match(a.out, new RegExp(`${hs[0]!.name} +aborted`), a.out);
  assert.match(a.out, new RegExp(`${hs[1]!.name} failed at step "Kubelet is active"[^\\n]*: every host of the run is rolled back`), a.out);
  hs.forEach((h, i) => assert.deepEqual(snapshot(h), before[i], `${h.name} is not byte-identical after the run's own rollback`));
  const id = /run (\d{8}T\d{6}Z-[0-9a-f]+)/.exec(a.out)?.[1];
  assert.ok(id, a.out);
  const rb = await cli(['rollback', id], 'ha-fail');
  assert.equal(rb.code, 0, rb.out);
  hs.forEach((h, i) => assert.deepEqual(snapshot(h), before[i], `${h.name} is not byte-identical after runbook rollback`));
}

/**
 * kubeadm 1.18, kubelet.conf expired (its kubelet down): kubeadm writes the new kubelet.conf, then its client
 * certificate is swapped for scheduler.conf's (renewed, the cluster's CA, but not a node). The kubelet starts
 * and stays `active`; the API server refuses its node status and Lease (403), and its certificate manager's
 * CSR is never approved. The run must fail at the heartbeat check and roll back, not pass on `is-active`.
 */
async function heartbeatFails(): Promise<void> {
  const h = hostsOf.get('fail-heartbeat')![0]!;
  const before = snapshot(h);
  // the crash-looping kubelet is stopped first: started on the real kubeadm's kubelet.conf in the moment
  // before sed swaps its certificate, its certificate manager would store that valid pair (client-go
  // fileStore.Update, as a real kubelet would) and present it from then on
  replaceCommand(h, 'kubeadm', [
    'case " $* " in *" kubeconfig kubelet "*)',
    '  systemctl stop kubelet',
    '  /usr/local/sbin/.kubeadm-real "$@" || exit $?',
    "  c=$(sed -n 's/^ *client-certificate-data: *//p' /etc/kubernetes/scheduler.conf); k=$(sed -n 's/^ *client-key-data: *//p' /etc/kubernetes/scheduler.conf)",
    '  sed -i -e "s|^\\( *client-certificate-data:\\).*|\\1 $c|" -e "s|^\\( *client-key-data:\\).*|\\1 $k|" /etc/kubernetes/kubelet.conf; exit 0;;',
    'esac',
  ].join('\n'));
  const a = await apply('fail-heartbeat');
  assert.equal(a.code, 6, a.out);
  assert.match(a.out, /failed +\d+\/\d+ The restarted kubelet reports its node[\s\S]*nothing from the kubelet restarted at/, a.out);
  assert.match(a.out, /rolled back/i);
  assert.deepEqual(snapshot(h), before, `${h.name} is not byte-identical after the rollback`);
}

test('cert-renew on every scenario, concurrently: renewed, verified, idempotent; failures roll back', { skip, timeout: 2_700_000, concurrency: true }, async (t) => {
  const cases: [string, string, () => Promise<void>][] = [
    ['seed2', 'seed 2: kubeadm 1.11 with docker, one leaf expired (move aside + alpha phase), behind a load balancer', async () => void (await renews('seed2'))],
    ['seed1', 'seed 1: kubeadm 1.18, all certs and the embedded kubelet client (alpha certs renew + kubelet.conf), behind a load balancer', async () => void (await renews('seed1'))],
    ['expired', '1.28, every certificate expired (certs renew)', async () => void (await renews('expired'))],
    ['expiring', '1.28, expiring in 10 days, the real etcdctl 3.4 on the node (health on stderr), behind a load balancer, kubelet.conf embedded', async () => void (await renews('expiring'))],
    ['superadmin', '1.30 with super-admin.conf, no etcdctl on the node (etcd checked through the API server), behind a load balancer, kubelet.conf embedded', async () => void (await renews('superadmin'))],
    ['ha', 'three-node HA 1.29 expiring, one etcd cluster, super-admin.conf on the init node: one node at a time; rollback ID restores files and served certs', () => renewsThenRollsBack('ha')],
    ['ha-expired', 'three-node HA 1.28, everything expired (etcd peers included): HA recovery, every node renewed first, etcd restarted together; rollback ID restores files and served certs', () => renewsThenRollsBack('ha-expired')],
    ['ha-docker', 'two-node HA 1.18 with docker, everything expired, kubelet down: HA recovery with --forks 1', async () => void (await renews('ha-docker'))],
    ['ha-partial', 'three-node HA 1.28, one member\'s certificates (etcd peer included) expired, the others expiring: one node at a time, the expired member first', async () => void (await renews('ha-partial'))],
    ['external', 'external etcd 1.28 (no etcd pod, no pki/etcd): kubeadm\'s certificates renewed, no etcd certificate, no etcd restart; plan says so', async () => void (await renews('external'))],
    ['ha-fail', 'HA recovery, node 2\'s kubelet stopped in the middle: exit 6 naming it, every node rolled back by the run; rollback ID changes nothing', () => haFailsThenRollsBack()],
    [
      'healthy',
      'healthy 1.28: nothing to do, nothing touched',
      async () => {
        const h = hostsOf.get('healthy')![0]!;
        await waitFor('the healthy node to report', () => sims.find((s) => s.host === h)!.status()?.pods.length === 4, 60_000, 300);
        const before = snapshot(h);
        const p = await plan('healthy');
        assert.equal(p.code, 0, p.out);
        assert.doesNotMatch(p.out, /\$ kubeadm (certs|alpha|init)/);
        const a = await apply('healthy');
        assert.equal(a.code, 0, a.out);
        assert.equal(recap(a.out)?.[2], '0', a.out);
        assert.match(await serverVersion(h), /Server Version: v1\.28\.15/);
        assert.deepEqual(snapshot(h), before);
        const c = await apply('healthy', CHECK);
        assert.equal(c.code, 0, c.out);
      },
    ],
    [
      'fail-backup',
      'failure at backup (the backup directory cannot be created): rolled back, nothing changed',
      () => rollsBack('fail-backup', (h) => writeFileSync(lab.hostPath(h, '/var/backups/runbook'), 'not a directory\n'), /Back up/, { changedNothing: true }),
    ],
    [
      'fail-confs',
      'failure at the final check (kubeadm says it renewed admin.conf but did not): the re-read kubeconfig fails the check, rolled back byte-identical',
      () =>
        rollsBack(
          'fail-confs',
          (h) => replaceCommand(h, 'kubeadm', 'case " $* " in *" renew admin.conf "*) echo "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself renewed"; exit 0;; esac'),
          /Every renewed certificate and kubeconfig is good for about a year[\s\S]*admin\.conf \d+ days/,
        ),
    ],
    [
      'fail-renew',
      'failure at renew (kubeadm fails on the 6th certificate): rolled back byte-identical',
      () => rollsBack('fail-renew', (h) => replaceCommand(h, 'kubeadm', 'case " $* " in *" renew etcd-server "*) echo "error: injected renew failure" >&2; exit 1;; esac'), /Renew expiring certificates/),
    ],
    [
      'fail-kubeconfig',
      'failure at kubeconfig (1.11 alpha phase kubeconfig fails after certs were regenerated): rolled back byte-identical',
      () => rollsBack('fail-kubeconfig', (h) => replaceCommand(h, 'kubeadm', 'case " $* " in *" phase kubeconfig "*) echo "error: injected kubeconfig failure" >&2; exit 1;; esac'), /Generate each kubeconfig moved aside/),
    ],
    [
      'fail-restart',
      'failure at restart (systemctl restart kubelet fails once): rolled back byte-identical',
      () =>
        rollsBack(
          'fail-restart',
          (h) => replaceCommand(h, 'systemctl', 'if [ "$1" = restart ] && [ ! -e /tmp/.restart-failed ]; then : > /tmp/.restart-failed; echo "Job for kubelet.service failed because the control process exited with error code." >&2; exit 1; fi'),
          /Restart kubelet/,
        ),
    ],
    ['fail-heartbeat', 'failure at the kubelet\'s heartbeat (the new kubelet.conf carries the scheduler\'s certificate: the kubelet is active, the API server refuses its reports): rolled back byte-identical', () => heartbeatFails()],
    [
      'fail-verify',
      'failure at verify (etcd reports unhealthy): rolled back byte-identical',
      () => rollsBack('fail-verify', (h) => replaceCommand(h, 'etcdctl', 'echo "https://127.0.0.1:2379 is unhealthy: failed to commit proposal: context deadline exceeded" >&2; exit 1'), /Stacked etcd is healthy/),
    ],
  ];
  // CERT_E2E_ONLY: only the cases whose hosts were made. A case's nodes stop when it ends (passed or not):
  // a cluster rolled back to expired etcd peer certificates would otherwise retry its peers meanwhile
  const nodesOf = (id: string) => sims.filter((s) => hostsOf.get(id)!.includes(s.host));
  const running = cases.filter(([id]) => hostsOf.has(id));
  const endCase = async (id: string, failure: unknown) => {
    try {
      await stopAgents(nodesOf(id));
    } catch (e) {
      if (failure === undefined) throw e; // the case's own failure is the one to report
      console.error(`stopping ${id}'s nodes: ${(e as Error).message}`);
    }
  };
  const body = new Map(running.map(([id, , f]) => [id, f]));
  const order = running.map(([id]) => id).sort((a, b) => Number(PEERS_EXPIRED.has(b)) - Number(PEERS_EXPIRED.has(a)));
  const outcome = schedule(order, async (id) => {
    try {
      await bringUp(id);
      await body.get(id)!();
    } catch (e) {
      await endCase(id, e);
      throw e;
    }
    await endCase(id, undefined);
  });
  // each failure is its subtest's to report, whenever the runner starts that subtest
  for (const o of outcome.values()) o.catch(() => undefined);
  await Promise.all(running.map(([id, name]) => t.test(name, () => outcome.get(id)!)));
});
