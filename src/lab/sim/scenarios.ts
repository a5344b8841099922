// Scenarios: a kubeadm control-plane node's files, written under a root directory.
import { mkdir, writeFile, copyFile, chmod, symlink, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NODE, kubeletClientFile, rooted, simDistDir } from './paths.js';
import { userError } from '../../errors.js';
import {
  CAS, LEAVES, CONFS, atLeast, leafCN, leafOrgs, leafSANs, saveNode,
  type NodeConfig, type Runtime,
} from './node.js';
import { DAY, YEAR, genKey, issue, kubeconfigYaml, readPem, writePem, writeServiceAccountKeys, type Pem } from './pki.js';
import { FLANNEL_CONFLIST, manifestsFor, kubeletConfigYaml, kubeadmFlagsEnv, clusterConfigurationYaml } from './manifests.js';
import { EXTERNAL_ETCD_PKI } from './external-etcd.js';
import { writeNodeSeed } from './worker-seeds.js';

import { CLI_SCENARIOS, SCENARIOS, TEST_ONLY_SCENARIOS, type ScenarioName } from './scenario-names.js';
export { CLI_SCENARIOS, SCENARIOS, type ScenarioName };

/** Scenarios of a stacked-etcd HA control plane: installed on several hosts as one cluster (installSimCluster). */
export function isHAScenario(s: ScenarioName): boolean {
  return s.startsWith('ha-');
}

/** A `--scenario` value as given on a command line: a scenario it accepts (CLI_SCENARIOS), or a usage error listing them. */
export function scenarioArg(s: string): ScenarioName {
  const hint = `one of ${CLI_SCENARIOS.join(', ')}`;
  if ((CLI_SCENARIOS as readonly string[]).includes(s)) return s as ScenarioName;
  if ((TEST_ONLY_SCENARIOS as readonly string[]).includes(s)) throw userError('usage', `--scenario: ${s} runs in the test suite only (its external etcd is not a node process that lab down or the demo would stop)`, { hint });
  throw userError('usage', `--scenario: unknown scenario "${s}"`, { hint });
}

export interface InstallOptions {
  nodeName: string;
  advertiseAddress: string;
  apiPort?: number;
  etcdPort?: number;
  /** reference time for the scenario's dates (default: now) */
  now?: Date;
  /** the kubelet's fileCheckFrequency, e.g. "1s" for tests (default "20s" like the real kubelet) */
  fileCheckFrequency?: string;
  kubeletRestartMs?: number;
  crashBackoffMs?: number;
  containerRestartMs?: number;
  /** HA: another node's root whose CAs (ca, front-proxy-ca, etcd/ca, sa) this node shares */
  shareCAsFrom?: string;
  /** HA: false on the joined control-plane nodes (no super-admin.conf) */
  initNode?: boolean;
  /** extra apiserver SANs (certSANs in the cluster configuration) */
  certSANs?: string[];
  /** force the rule for expired certs seen by `init phase certs` (default: by version) */
  expiredInitCerts?: 'reuse' | 'error';
  /** etcd peer port on the advertise address (2380; a free port in sandboxes, which all use 127.0.0.1) */
  etcdPeerPort?: number;
  /** HA: every etcd member of the cluster (this node included), named in each manifest's --initial-cluster */
  etcdMembers?: EtcdMember[];
  /** etcd's --heartbeat-interval and --election-timeout in ms (kubeadm extraArgs), for fast tests */
  etcdTimings?: { heartbeatMs: number; electionMs: number };
  /** the API server's --node-monitor-grace-period, ms (default 40 s) */
  nodeMonitorGraceMs?: number;
  /** the kubelet's nodeStatusUpdateFrequency, ms (10 s), and nodeLeaseDurationSeconds (40: renewed every 10 s): short in tests */
  nodeStatusUpdateMs?: number;
  nodeLeaseDurationSeconds?: number;
  /**
   * Where the node's private keys come from (default: a new 2048-bit RSA key each, as kubeadm makes
   * them). The fleet benchmark installs hundreds of nodes whose certificates are only read: it hands
   * out keys from a small pool, since RSA generation (~160 ms a key) would dominate its set-up.
   */
  keys?: () => Promise<string>;
}

export interface EtcdMember {
  name: string;
  address: string;
  peerPort?: number;
}

type Window = { nb: Date; na: Date };

interface ScenarioDef {
  version: string;
  runtime: Runtime;
  superAdmin: boolean;
  /** kubelet.conf embeds its client cert (1.11/1.18) or points at kubelet-client-current.pem */
  kubeletEmbedded: boolean;
  /** etcd runs outside the node (kubeadm's etcd.external): no etcd pod, no pki/etcd/ */
  externalEtcd?: boolean;
  /** validity of the CAs */
  ca: (now: number) => Window;
  /**
   * validity of each leaf / kubeconfig cert (by kubeadm name or conf file name), and of the kubelet's
   * rotated cert; HA: `member` is the node's place in the etcd member list (0: the init node) of `members`
   */
  leaf: (name: string, ca: Window, now: number, member: number, members: number) => Window;
}

const d = (ms: number) => new Date(ms);

function initAgo(days: number) {
  return (now: number): Window => ({ nb: d(now - days * DAY), na: d(now - days * DAY + 10 * YEAR) });
}
/** every leaf issued with the CA at init time: NotBefore = CA NotBefore, one year */
const oneYearFromInit = (_n: string, ca: Window): Window => ({ nb: ca.nb, na: d(ca.nb.getTime() + YEAR) });
const rotatedKubelet = (now: number): Window => ({ nb: d(now - 100 * DAY), na: d(now + 265 * DAY) });

const DEFS: Record<ScenarioName, ScenarioDef> = {
  'all-expired-1.28': {
    version: 'v1.28.15', runtime: 'containerd', superAdmin: false, kubeletEmbedded: false,
    ca: initAgo(400),
    leaf: (n, ca, now) => (n === 'kubelet-client' ? rotatedKubelet(now) : oneYearFromInit(n, ca)),
  },
  'super-admin-1.30': {
    version: 'v1.30.6', runtime: 'containerd', superAdmin: true, kubeletEmbedded: false,
    ca: initAgo(400),
    leaf: (n, ca, now) => (n === 'kubelet-client' ? rotatedKubelet(now) : oneYearFromInit(n, ca)),
  },
  'ha-expired-1.28': {
    version: 'v1.28.15', runtime: 'containerd', superAdmin: false, kubeletEmbedded: false,
    ca: initAgo(400),
    leaf: (n, ca, now) => (n === 'kubelet-client' ? rotatedKubelet(now) : oneYearFromInit(n, ca)),
  },
  // HA, two control-plane nodes on kubeadm 1.18 with docker, untouched for a year: every leaf expired,
  // the etcd peer certificates and kubelet.conf's embedded client certificate included.
  'ha-expired-1.18-docker': {
    version: 'v1.18.20', runtime: 'docker', superAdmin: false, kubeletEmbedded: true,
    ca: initAgo(367),
    leaf: (n, ca) => oneYearFromInit(n, ca),
  },
  // HA, three control-plane nodes on 1.29 expiring in 10 days; super-admin.conf on the init node only.
  'ha-expiring-1.29': {
    version: 'v1.29.10', runtime: 'containerd', superAdmin: true, kubeletEmbedded: false,
    ca: initAgo(355),
    leaf: (n, ca, now) => (n === 'kubelet-client' ? rotatedKubelet(now) : oneYearFromInit(n, ca)),
  },
  // HA, three control-plane nodes on 1.28: the last one joined on another day and its certificates
  // (etcd peer included) expired 35 days ago; the other two expire in 10 days. The other two members
  // keep the quorum: one node at a time, the expired member first.
  'ha-partial-1.28': {
    version: 'v1.28.15', runtime: 'containerd', superAdmin: false, kubeletEmbedded: false,
    ca: initAgo(400),
    leaf: (n, _ca, now, member, members) =>
      n === 'kubelet-client' ? rotatedKubelet(now)
      : member === members - 1 && members > 1 ? { nb: d(now - 400 * DAY), na: d(now - 35 * DAY) }
      : { nb: d(now - 355 * DAY), na: d(now + 10 * DAY) },
  },
  // External etcd (kubeadm's etcd.external): the node has no etcd static pod and no pki/etcd/; the API
  // server reaches an etcd run elsewhere with apiserver-etcd-client, signed by that etcd's own CA
  // (/etc/etcd/pki, valid 200 more days: not kubeadm's to renew). The kubeadm leaves expire in 10 days.
  'external-etcd-1.28': {
    version: 'v1.28.15', runtime: 'containerd', superAdmin: false, kubeletEmbedded: false, externalEtcd: true,
    ca: initAgo(355),
    leaf: (n, ca, now) => (n === 'kubelet-client' ? rotatedKubelet(now) : n === 'apiserver-etcd-client' ? { nb: d(now - 165 * DAY), na: d(now + 200 * DAY) } : oneYearFromInit(n, ca)),
  },
  'expiring-10d-1.28': {
    version: 'v1.28.15', runtime: 'containerd', superAdmin: false, kubeletEmbedded: false,
    ca: initAgo(355),
    leaf: (n, ca, now) => (n === 'kubelet-client' ? rotatedKubelet(now) : oneYearFromInit(n, ca)),
  },
  'healthy-1.28': {
    version: 'v1.28.15', runtime: 'containerd', superAdmin: false, kubeletEmbedded: false,
    ca: initAgo(30),
    leaf: (n, ca, now) => (n === 'kubelet-client' ? { nb: d(now - 30 * DAY), na: d(now + 335 * DAY) } : oneYearFromInit(n, ca)),
  },
  // kubeadm 1.18 a month after init: the control plane of the 1.18 worker scenarios (src/lab/sim/worker.ts)
  'healthy-1.18': {
    version: 'v1.18.20', runtime: 'containerd', superAdmin: false, kubeletEmbedded: true,
    ca: initAgo(30),
    leaf: (n, ca) => oneYearFromInit(n, ca),
  },
  // Seed 1: everything expired two days ago, including kubelet.conf's embedded client certificate.
  'seed1-1.18': {
    version: 'v1.18.20', runtime: 'containerd', superAdmin: false, kubeletEmbedded: true,
    ca: initAgo(367),
    leaf: (n, ca) => oneYearFromInit(n, ca),
  },
  // Seed 2: 1.10 → 1.11 upgrade renewed apiserver, apiserver-etcd-client and the etcd certs ~5 months
  // ago; apiserver-kubelet-client, front-proxy-client and the control-plane kubeconfigs kept their
  // init-time certs and expired 15 days ago (kubectl: Unauthorized). kubelet.conf's cert is valid.
  'seed2-1.11-docker': {
    version: 'v1.11.10', runtime: 'docker', superAdmin: false, kubeletEmbedded: true,
    ca: initAgo(380),
    leaf: (n, ca, now) => {
      if (['apiserver', 'apiserver-etcd-client', 'etcd-server', 'etcd-peer', 'etcd-healthcheck-client'].includes(n)) {
        return { nb: ca.nb, na: d(now + 200 * DAY) };
      }
      if (n === 'kubelet.conf') return { nb: ca.nb, na: d(now + 200 * DAY) };
      return oneYearFromInit(n, ca);
    },
  },
};

export function scenarioVersion(s: ScenarioName): string {
  return DEFS[s].version;
}

const COMMANDS: Record<Runtime, string[]> = {
  containerd: ['kubeadm', 'systemctl', 'journalctl', 'crictl', 'etcdctl'],
  docker: ['kubeadm', 'systemctl', 'journalctl', 'docker', 'etcdctl'],
};

/** Installs the emulated commands into <root>/usr/local/sbin (absolute node and script paths). */
/**
 * A pair in the kubelet's certificate store as the kubelet leaves it: the file `name` (0600) in
 * /var/lib/kubelet/pki, kubelet-client-current.pem a (relative) link to it.
 */
export async function installStorePair(root: string, name: string, pair: string): Promise<void> {
  const pki = rooted(root, NODE.kubeletPki);
  await writeFile(join(pki, name), pair, { mode: 0o600 });
  await rm(join(pki, 'kubelet-client-current.pem'), { force: true });
  await symlink(name, join(pki, 'kubelet-client-current.pem'));
}

/** The network plugin's CNI configuration (flannel's), with which the runtime reports the network ready. */
export async function installCniConfig(root: string): Promise<void> {
  await mkdir(rooted(root, NODE.cniConfDir), { recursive: true });
  await writeFile(join(rooted(root, NODE.cniConfDir), FLANNEL_CONFLIST.name), FLANNEL_CONFLIST.text);
}

export async function installCommands(root: string, runtime: Runtime): Promise<void> {
  const sbin = rooted(root, NODE.sbin);
  await mkdir(sbin, { recursive: true });
  const cli = join(simDistDir, 'cli.js');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  for (const c of COMMANDS[runtime]) {
    const p = join(sbin, c);
    await writeFile(p, `#!/bin/sh\n# kubeadm node simulator: emulated ${c}\nexec ${q(process.execPath)} ${q(cli)} ${c} "$@"\n`);
    await chmod(p, 0o755);
  }
}

/**
 * Writes a kubeadm control-plane node in scenario `scenario` under `root`: pki/, kubeconfigs,
 * manifests/, kubelet files, /root/.kube/config, the emulated commands and node.json.
 */
export async function installNode(root: string, scenario: ScenarioName, opts: InstallOptions): Promise<NodeConfig> {
  const def = DEFS[scenario];
  if (!def) throw new Error(`unknown scenario ${scenario}; known: ${SCENARIOS.join(', ')}`);
  const now = (opts.now ?? new Date()).getTime();
  const node: NodeConfig = {
    version: def.version,
    runtime: def.runtime,
    nodeName: opts.nodeName,
    advertiseAddress: opts.advertiseAddress,
    apiPort: opts.apiPort ?? 6443,
    etcdPort: opts.etcdPort ?? 2379,
    etcdPeerPort: opts.etcdPeerPort ?? 2380,
    etcdInitialCluster: (opts.etcdMembers ?? [{ name: opts.nodeName, address: opts.advertiseAddress, peerPort: opts.etcdPeerPort }])
      .map((m) => `${m.name}=https://${m.address}:${m.peerPort ?? opts.etcdPeerPort ?? 2380}`).join(','),
    etcdTimings: opts.etcdTimings,
    initNode: opts.initNode ?? !opts.shareCAsFrom,
    certSANs: opts.certSANs ?? [],
    serviceSubnet: '10.96.0.0/12',
    dnsDomain: 'cluster.local',
    clusterName: 'kubernetes',
    kubeletRestartMs: opts.kubeletRestartMs ?? 10_000,
    crashBackoffMs: opts.crashBackoffMs ?? 10_000,
    containerRestartMs: opts.containerRestartMs ?? 1_000,
    expiredInitCerts: opts.expiredInitCerts,
    ...(opts.nodeMonitorGraceMs ? { nodeMonitorGraceMs: opts.nodeMonitorGraceMs } : {}),
    ...(opts.nodeStatusUpdateMs ? { nodeStatusUpdateMs: opts.nodeStatusUpdateMs } : {}),
    ...(opts.nodeLeaseDurationSeconds ? { nodeLeaseDurationSeconds: opts.nodeLeaseDurationSeconds } : {}),
    createdAt: def.ca(now).nb.toISOString(),
    ...(def.externalEtcd
      ? {
          externalEtcd: {
            endpoint: `https://${opts.advertiseAddress}:${opts.etcdPort ?? 2379}`,
            caFile: EXTERNAL_ETCD_PKI + '/ca.crt',
            certFile: NODE.pkiDir + '/apiserver-etcd-client.crt',
            keyFile: NODE.pkiDir + '/apiserver-etcd-client.key',
            peerPort: opts.etcdPeerPort ?? 2380,
          },
        }
      : {}),
  };
  const r = (p: string) => rooted(root, p);
  const pki = r(NODE.pkiDir);
  const newKey = opts.keys ?? genKey;
  for (const dir of [def.externalEtcd ? EXTERNAL_ETCD_PKI : NODE.pkiDir + '/etcd', NODE.manifests, NODE.kubeletPki, NODE.simState, '/root/.kube', NODE.runSim, NODE.logDir, '/var/lib/etcd', '/tmp']) {
    await mkdir(r(dir), { recursive: true });
  }

  // CAs (shared in HA) and the service-account key pair
  const caWin = def.ca(now);
  const cas: Record<string, Pem> = {};
  if (opts.shareCAsFrom) {
    const src = rooted(opts.shareCAsFrom, NODE.pkiDir);
    for (const c of CAS) {
      await mkdir(join(pki, c.base, '..'), { recursive: true });
      for (const ext of ['.crt', '.key']) await copyFile(join(src, c.base + ext), join(pki, c.base + ext));
      cas[c.base] = readPem(pki, c.base);
    }
    for (const f of ['sa.key', 'sa.pub']) await copyFile(join(src, f), join(pki, f));
  } else {
    await Promise.all(
      CAS.filter((c) => !(def.externalEtcd && c.base === 'etcd/ca')).map(async (c) => {
        const pem = await issue({ cn: c.cn, usage: 'ca', notBefore: caWin.nb, notAfter: caWin.na, dns: atLeast(def.version, '1.26.0') ? [c.cn] : [] }, undefined, await newKey());
        cas[c.base] = pem;
        await writePem(pki, c.base, pem);
      }),
    );
    await writeServiceAccountKeys(pki, await newKey());
  }

  // external etcd: its own CA and serving certificate, outside /etc/kubernetes (not kubeadm's)
  if (def.externalEtcd) {
    const dir = r(EXTERNAL_ETCD_PKI);
    cas['etcd/ca'] = await issue({ cn: 'external-etcd-ca', usage: 'ca', notBefore: caWin.nb, notAfter: caWin.na });
    await writePem(dir, 'ca', cas['etcd/ca']);
    const server = await issue({ cn: 'external-etcd', dns: ['localhost'], ips: [opts.advertiseAddress, '127.0.0.1'], usage: 'server+client', notBefore: caWin.nb, notAfter: caWin.na }, cas['etcd/ca']);
    await writePem(dir, 'server', server);
  }

  // leaves (HA: the node's place among the etcd members, for scenarios whose nodes differ)
  const members = opts.etcdMembers?.length ?? 1;
  const member = Math.max(0, opts.etcdMembers?.findIndex((m) => m.name === opts.nodeName) ?? 0);
  await Promise.all(
    LEAVES.filter((l) => !(def.externalEtcd && l.base.startsWith('etcd/'))).map(async (l) => {
      const w = def.leaf(l.name, caWin, now, member, members);
      const sans = leafSANs(l.name, node, node.certSANs);
      const pem = await issue(
        { cn: leafCN(l.name, node), orgs: leafOrgs(l.name, node.version), dns: sans.dns, ips: sans.ips, usage: l.usage, notBefore: w.nb, notAfter: w.na },
        cas[l.ca],
        await newKey(),
      );
      await writePem(pki, l.base, pem);
    }),
  );

  // kubeconfigs
  const server = `https://${node.advertiseAddress}:${node.apiPort}`;
  const caCert = cas['ca']!.cert;
  const confs = CONFS.filter((c) => c.file !== 'super-admin.conf' || (def.superAdmin && node.initNode));
  await Promise.all(
    confs.map(async (c) => {
      const w = def.leaf(c.file, caWin, now, member, members);
      if (c.file === 'kubelet.conf' && !def.kubeletEmbedded) {
        const kw = def.leaf('kubelet-client', caWin, now, member, members);
        const pem = await issue({ cn: c.user(node), orgs: c.orgs(node), usage: 'client', notBefore: kw.nb, notAfter: kw.na }, cas['ca'], await newKey());
        await installStorePair(root, kubeletClientFile(kw.nb), pem.cert + pem.key);
        await writeFile(
          r(NODE.kubeletConf),
          kubeconfigYaml({ server, caCert, user: 'default-auth', clusterName: 'default-cluster', clientFile: NODE.kubeletPki + '/kubelet-client-current.pem' })
            .replace(/default-auth@default-cluster/g, 'default-context'),
          { mode: 0o600 },
        );
        return;
      }
      const pem = await issue({ cn: c.user(node), orgs: c.orgs(node), usage: 'client', notBefore: w.nb, notAfter: w.na }, cas['ca'], await newKey());
      await writeFile(r(NODE.kubeDir + '/' + c.file), kubeconfigYaml({ server, caCert, user: c.user(node), client: pem }), { mode: 0o600 });
    }),
  );
  await copyFile(r(NODE.kubeDir + '/admin.conf'), r(NODE.rootKube));

  // static pods, kubelet files, cluster configuration
  for (const [name, text] of Object.entries(manifestsFor(node))) {
    await writeFile(join(r(NODE.manifests), name + '.yaml'), text, { mode: 0o600 });
  }
  await writeFile(r(NODE.kubeletConfig), kubeletConfigYaml(node, opts.fileCheckFrequency ?? '20s'));
  await installCniConfig(root);
  await writeFile(r(NODE.kubeadmFlags), kubeadmFlagsEnv(node));
  await writeFile(r(NODE.simState + '/kubeadm-config.yaml'), clusterConfigurationYaml(node));
  saveNode(root, node);
  await installCommands(root, node.runtime);
  // the cluster has known this node since `kubeadm init`/`join`; its kubelet was last heard from when its
  // client certificate still worked (now, for a valid one). Its own API server seeds it (HA: each node's).
  const kubeletNa = def.leaf(def.kubeletEmbedded ? 'kubelet.conf' : 'kubelet-client', caWin, now, member, members).na.getTime();
  await writeNodeSeed(root, node, Math.min(now, kubeletNa), now);
  return node;
}

export interface ClusterNode {
  root: string;
  nodeName: string;
  advertiseAddress: string;
  apiPort?: number;
  etcdPort?: number;
  etcdPeerPort?: number;
}

/** HA: the first node is `kubeadm init`; the others share its CAs and get their own leaves and SANs. */
export async function installCluster(
  nodes: ClusterNode[],
  scenario: ScenarioName,
  common: Omit<InstallOptions, 'nodeName' | 'advertiseAddress' | 'apiPort' | 'etcdPort' | 'etcdPeerPort' | 'shareCAsFrom' | 'initNode' | 'etcdMembers'> = {},
): Promise<NodeConfig[]> {
  const out: NodeConfig[] = [];
  const first = nodes[0];
  if (!first) return out;
  // one etcd cluster: every manifest names every member
  const etcdMembers = nodes.map((n) => ({ name: n.nodeName, address: n.advertiseAddress, peerPort: n.etcdPeerPort }));
  out.push(await installNode(first.root, scenario, { ...common, ...pick(first), etcdMembers, initNode: true }));
  out.push(
    ...(await Promise.all(
      nodes.slice(1).map((n) => installNode(n.root, scenario, { ...common, ...pick(n), etcdMembers, initNode: false, shareCAsFrom: first.root })),
    )),
  );
  return out;
}

function pick(n: ClusterNode) {
  return { nodeName: n.nodeName, advertiseAddress: n.advertiseAddress, apiPort: n.apiPort, etcdPort: n.etcdPort, etcdPeerPort: n.etcdPeerPort };
}

export function isInstalled(root: string): boolean {
  return existsSync(rooted(root, NODE.nodeJson));
}
