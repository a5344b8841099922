// The emulated kubeadm: the certificate and kubeconfig commands of 1.11, 1.13-1.19 and >= 1.20,
// with their flags, output and exit codes. Files are real (openssl); CAs are only ever created when missing.
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, dirname } from 'node:path';
import { NODE, rooted } from './paths.js';
import {
  CAS, CONFS, LEAVES, atLeast, confDef, leafCN, leafOrgs, leafSANs, loadNode,
  type LeafDef, type NodeConfig,
} from './node.js';
import {
  YEAR, expiredAt, genKey, issue, kubeconfigYaml, parseCert, parseKubeconfig, signedBy,
  writePem, writeServiceAccountKeys, type CertInfo, type Pem,
} from './pki.js';
import { kubeadmDate, rfc3339, shortHumanDuration, tabwrite } from './format.js';
import {
  Ctx, Exit, cfgNode, expiredIsError, goList, loadCA, loadCfg, localServerURL, parseFlags, periodError, pkiPath, serverURL, tryLoad,
  type Cfg, type CmdResult, type FlagSpec, type Parsed,
} from './kubeadm-context.js';

export type { CmdResult } from './kubeadm-context.js';

// ---------------------------------------------------------------- certs phase

const CERT_PHASES_MODERN = ['ca', 'apiserver', 'apiserver-kubelet-client', 'front-proxy-ca', 'front-proxy-client', 'etcd-ca', 'etcd-server', 'etcd-peer', 'etcd-healthcheck-client', 'apiserver-etcd-client', 'sa'];
const CERT_PHASES_111 = ['ca', 'apiserver', 'apiserver-kubelet-client', 'sa', 'front-proxy-ca', 'front-proxy-client', 'etcd-ca', 'etcd-server', 'etcd-peer', 'etcd-healthcheck-client', 'apiserver-etcd-client'];

function leafByPhase(name: string): LeafDef | undefined {
  return LEAVES.find((l) => l.name === name);
}

async function certPhase(ctx: Ctx, cfg: Cfg, name: string): Promise<void> {
  const old = !ctx.modern;
  const n = cfgNode(ctx, cfg);
  if (name === 'sa') {
    const key = ctx.r(join(cfg.certDir, 'sa.key'));
    if (existsSync(key) || existsSync(ctx.r(join(cfg.certDir, 'sa.pub')))) {
      ctx.print(old ? '[certificates] Using the existing sa key.\n' : '[certs] Using the existing "sa" key\n');
    } else {
      await writeServiceAccountKeys(ctx.r(cfg.certDir));
      ctx.print(old ? '[certificates] Generated sa key and public key.\n' : '[certs] Generating "sa" key and public key\n');
    }
    return;
  }
  const ca = CAS.find((c) => c.name === name);
  if (ca) {
    const l = tryLoad(ctx, cfg, ca.base);
    if (l.exists) {
      if (!l.cert) ctx.fail(old ? `failure loading ${ca.base} certificate: ${l.err}` : `error execution phase certs/${name}: failure loading ${ca.base} certificate: ${l.err}`);
      if (!l.cert.isCA) ctx.fail(`certificate ${ca.base} is not a CA`);
      ctx.print(old ? `[certificates] Using the existing ${ca.base} certificate and key.\n` : `[certs] Using existing ${ca.base} certificate authority\n`);
      return;
    }
    const now = Date.now();
    const pem = await issue({ cn: ca.cn, usage: 'ca', notBefore: new Date(now), notAfter: new Date(now + 10 * YEAR), dns: atLeast(ctx.v, '1.26.0') ? [ca.cn] : [] });
    await writePem(ctx.r(cfg.certDir), ca.base, pem);
    ctx.print(old ? `[certificates] Generated ${ca.base} certificate and key.\n` : `[certs] Generating "${ca.base}" certificate and key\n`);
    return;
  }
  const leaf = leafByPhase(name);
  if (!leaf) ctx.fail(`unknown certificate ${name}`);
  const caDef = CAS.find((c) => c.base === leaf.ca)!;
  const phase = `certs/${name}`;
  const l = tryLoad(ctx, cfg, leaf.base);
  if (l.exists) {
    if (!l.cert || !l.key) ctx.fail(old ? `failure loading ${leaf.base} certificate: ${l.err}` : `error execution phase ${phase}: failure loading ${leaf.base} certificate: failed to load certificate: ${l.err}`);
    const pe = periodError(l.cert);
    if (pe && expiredIsError(ctx)) {
      ctx.fail(old ? `failure loading ${leaf.base} certificate: ${pe.replace(/: NotBefore.*$/, '')}` : `error execution phase ${phase}: failure loading ${leaf.base} certificate: failed to load certificate: ${pe.replace(/: NotBefore.*$/, '')}`);
    }
    if (pe) ctx.warn('certs.go:519', `WARNING: could not validate bounds for certificate ${leaf.base}: ${pe}`);
    const caCert = tryLoad(ctx, cfg, leaf.ca).cert;
    if (!caCert) ctx.fail(old ? `couldn't load CA certificate ${caDef.name}` : `error execution phase ${phase}: couldn't load CA certificate ${caDef.name}: couldn't load the certificate file ${join(cfg.certDir, leaf.ca + '.crt')}: open ${join(cfg.certDir, leaf.ca + '.crt')}: no such file or directory`);
    if (!signedBy(l.cert, caCert)) {
      ctx.fail(old ? `certificate ${leaf.base} is not signed by corresponding CA` : `error execution phase ${phase}: [certs] certificate ${leaf.base} not signed by CA certificate ${leaf.ca}: crypto/rsa: verification error`);
    }
    ctx.print(old ? `[certificates] Using the existing ${leaf.base} certificate and key.\n` : `[certs] Using existing ${leaf.base} certificate and key on disk\n`);
    return;
  }
  const caPem = (() => {
    try {
      return loadCA(ctx, cfg, leaf.ca, caDef.name);
    } catch (e) {
      if (e instanceof Exit && ctx.modern) {
        // re-prefix with the phase, like the workflow runner
        const lines = ctx.err.trimEnd().split('\n');
        ctx.err = '';
        ctx.fail(`error execution phase ${phase}: ${lines.slice(0, -1).join('\n')}`);
      }
      throw e;
    }
  })();
  const sans = leafSANs(leaf.name, n, cfg.certSANs);
  const now = Date.now();
  const pem = await issue(
    { cn: leafCN(leaf.name, n), orgs: leafOrgs(leaf.name, ctx.v), dns: sans.dns, ips: sans.ips, usage: leaf.usage, notBefore: caPem.info.notBefore, notAfter: new Date(now + YEAR) },
    caPem,
  );
  await writePem(ctx.r(cfg.certDir), leaf.base, pem);
  if (old) {
    ctx.print(`[certificates] Generated ${leaf.base} certificate and key.\n`);
    if (leaf.usage !== 'client') ctx.print(`[certificates] ${leaf.base} serving cert is signed for DNS names ${goList(sans.dns)} and IPs ${goList(sans.ips)}\n`);
  } else {
    ctx.print(`[certs] Generating "${leaf.base}" certificate and key\n`);
    if (leaf.usage !== 'client') ctx.print(`[certs] ${leaf.base} serving cert is signed for DNS names ${goList(sans.dns)} and IPs ${goList(sans.ips)}\n`);
  }
}

async function certsPhaseCmd(ctx: Ctx, sub: string | undefined, p: Parsed, path: string): Promise<void> {
  const names = ctx.modern ? CERT_PHASES_MODERN : CERT_PHASES_111;
  if (!sub) {
    ctx.print(`This command is not meant to be run on its own. See list of available subcommands.\n`);
    return;
  }
  if (sub !== 'all' && !names.includes(sub)) {
    ctx.fail(ctx.modern ? `invalid subcommand "${sub}"\nSee '${path} -h' for help and examples` : `invalid subcommand "${sub}"`);
  }
  const cfg = loadCfg(ctx, p);
  if (sub === 'all') {
    if (ctx.modern) ctx.print(`[certs] Using certificateDir folder "${cfg.certDir}"\n`);
    for (const nm of names) await certPhase(ctx, cfg, nm);
    if (!ctx.modern) ctx.print(`[certificates] valid certificates and keys now exist in "${cfg.certDir}"\n`);
    return;
  }
  await certPhase(ctx, cfg, sub);
}

// ---------------------------------------------------------------- kubeconfig phase

function kubeconfigFiles(ctx: Ctx): string[] {
  return atLeast(ctx.v, '1.29.0')
    ? ['admin.conf', 'super-admin.conf', 'kubelet.conf', 'controller-manager.conf', 'scheduler.conf']
    : ['admin.conf', 'kubelet.conf', 'controller-manager.conf', 'scheduler.conf'];
}

const KC_PHASE: Record<string, string> = {
  admin: 'admin.conf', 'super-admin': 'super-admin.conf', kubelet: 'kubelet.conf', 'controller-manager': 'controller-manager.conf', scheduler: 'scheduler.conf',
};

async function newClientKubeconfig(server: string, cfg: Cfg, user: string, cn: string, orgs: string[], ca: Pem & { info: CertInfo }): Promise<string> {
  const pem = await issue({ cn, orgs, usage: 'client', notBefore: ca.info.notBefore, notAfter: new Date(Date.now() + YEAR) }, ca);
  return kubeconfigYaml({ server, caCert: ca.cert, user, client: pem, clusterName: cfg.clusterName });
}

/**
 * The API server a kubeconfig phase writes into `file` (kubeadm's getKubeConfigSpecs): the control-plane
 * endpoint (the --config's controlPlaneEndpoint, else advertise address and bind port, 6443 unless given);
 * from 1.19.1 controller-manager.conf and scheduler.conf get the local endpoint whatever the
 * controlPlaneEndpoint (kubernetes#94398, cherry-picked as #94442; CHANGELOG-1.19.md, v1.19.1).
 */
function kubeconfigServer(ctx: Ctx, cfg: Cfg, file: string): string {
  if (atLeast(ctx.v, '1.19.1') && (file === 'controller-manager.conf' || file === 'scheduler.conf')) return localServerURL(cfg);
  return serverURL(cfg);
}

async function kubeconfigPhase(ctx: Ctx, cfg: Cfg, file: string): Promise<void> {
  const old = !ctx.modern;
  const path = join(cfg.kubeconfigDir, file);
  const full = ctx.r(path);
  const ca = loadCA(ctx, cfg, 'ca', 'ca');
  const want = kubeconfigServer(ctx, cfg, file);
  if (existsSync(full)) {
    const kc = parseKubeconfig(readFileSync(full, 'utf8'));
    const phase = `error execution phase kubeconfig/${file.replace('.conf', '')}: `;
    if (kc.caCert && kc.caCert.trim() !== ca.cert.trim()) {
      ctx.fail(`${old ? '' : phase}a kubeconfig file "${path}" exists already but has got the wrong CA cert`);
    }
    // validateKubeConfig: an existing file whose server differs was an error up to 1.19.2, and a warning
    // (the file is kept) from 1.19.3 and 1.20.0 on (kubernetes#94816, cherry-picked as #94890: CHANGELOG-1.19.md v1.19.3)
    if (kc.server !== want) {
      if (!atLeast(ctx.v, '1.19.3')) ctx.fail(`${old ? '' : phase}a kubeconfig file "${path}" exists already but has got the wrong API Server URL`);
      ctx.warn(`kubeconfig.go:${atLeast(ctx.v, '1.28.0') ? 264 : 249}`, `a kubeconfig file "${path}" exists already but has an unexpected API Server URL: expected: ${want}, got: ${kc.server}`);
    }
    ctx.print(old ? `[kubeconfig] Using existing up-to-date KubeConfig file: "${path}"\n` : `[kubeconfig] Using existing kubeconfig file: "${path}"\n`);
    return;
  }
  const d = confDef(file);
  const n = cfgNode(ctx, cfg);
  const text = await newClientKubeconfig(want, cfg, d.user(n), d.user(n), d.orgs(n), ca);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, text, { mode: 0o600 });
  chmodSync(full, 0o600);
  ctx.print(old ? `[kubeconfig] Wrote KubeConfig file to disk: "${path}"\n` : `[kubeconfig] Writing "${file}" kubeconfig file\n`);
}

async function userKubeconfig(ctx: Ctx, p: Parsed): Promise<void> {
  const client = p.flags['client-name'];
  // 1.20-1.26 require --config (cobra's MarkFlagRequired); kubernetes#116074 made it optional in 1.27
  const needConfig = atLeast(ctx.v, '1.20.0') && !atLeast(ctx.v, '1.27.0') && !p.flags['config'];
  if (atLeast(ctx.v, '1.21.0') && (!client || needConfig)) {
    ctx.fail(`required flag(s) ${[...(client ? [] : ['"client-name"']), ...(needConfig ? ['"config"'] : [])].join(', ')} not set`);
  }
  if (needConfig) ctx.fail('required flag(s) "config" not set');
  if (!client) ctx.fail(ctx.modern ? 'required flag(s) "client-name" not set' : 'missing required argument --client-name');
  const cfg = loadCfg(ctx, p);
  const ca = loadCA(ctx, cfg, 'ca', 'ca');
  const orgs = p.multi['org'] ?? [];
  const text = await newClientKubeconfig(serverURL(cfg), cfg, client, client, orgs, ca);
  ctx.print(text);
}

async function kubeconfigPhaseCmd(ctx: Ctx, sub: string | undefined, p: Parsed, path: string): Promise<void> {
  if (!sub) {
    ctx.print(`This command is not meant to be run on its own. See list of available subcommands.\n`);
    return;
  }
  if (sub === 'user' && !ctx.modern) return userKubeconfig(ctx, p);
  const files = kubeconfigFiles(ctx);
  if (sub !== 'all' && !(sub in KC_PHASE && files.includes(KC_PHASE[sub]!))) {
    ctx.fail(ctx.modern ? `invalid subcommand "${sub}"\nSee '${path} -h' for help and examples` : `invalid subcommand "${sub}"`);
  }
  const cfg = loadCfg(ctx, p);
  if (sub === 'all') {
    if (ctx.modern) ctx.print(`[kubeconfig] Using kubeconfig folder "${cfg.kubeconfigDir}"\n`);
    for (const f of files) await kubeconfigPhase(ctx, cfg, f);
    return;
  }
  await kubeconfigPhase(ctx, cfg, KC_PHASE[sub]!);
}

// ---------------------------------------------------------------- renew / check-expiration

const RENEW_ORDER = ['admin.conf', 'apiserver', 'apiserver-etcd-client', 'apiserver-kubelet-client', 'controller-manager.conf', 'etcd-healthcheck-client', 'etcd-peer', 'etcd-server', 'front-proxy-client', 'scheduler.conf'];

/** The certificates kubeadm's renewal manager knows; with external etcd no etcd-ca tree (kubeadm's GetCertsWithoutEtcd). */
function renewNames(ctx: Ctx): string[] {
  const names = atLeast(ctx.v, '1.29.0') ? [...RENEW_ORDER, 'super-admin.conf'] : RENEW_ORDER;
  return ctx.node.externalEtcd ? names.filter((n) => !n.startsWith('etcd-') && n !== 'apiserver-etcd-client') : names;
}

/** Whether kubeadm could read the kubeadm-config ConfigMap (the API answers and admin.conf is accepted). */
async function clusterReachable(ctx: Ctx, p: Parsed): Promise<boolean> {
  const kcPath = ctx.r(p.flags['kubeconfig'] ?? join(NODE.kubeDir, 'admin.conf'));
  if (!existsSync(kcPath)) return false;
  try {
    const kc = parseKubeconfig(readFileSync(kcPath, 'utf8'));
    if (!kc.clientCert || !kc.clientKey) return false;
    const url = new URL(kc.server + '/api/v1/namespaces/kube-system/configmaps/kubeadm-config');
    const https = await import('node:https');
    return await new Promise<boolean>((resolveP) => {
      const req = https.request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'GET', ca: kc.caCert, cert: kc.clientCert, key: kc.clientKey, timeout: 2000, checkServerIdentity: () => undefined },
        (res) => {
          res.resume();
          resolveP(res.statusCode === 200);
        },
      );
      req.on('error', () => resolveP(false));
      req.on('timeout', () => {
        req.destroy();
        resolveP(false);
      });
      req.end();
    });
  } catch {
    return false;
  }
}

async function readingConfig(ctx: Ctx, p: Parsed, prefix: string): Promise<void> {
  ctx.print(`[${prefix}] Reading configuration from the cluster...\n`);
  ctx.print(`[${prefix}] FYI: You can look at this config file with 'kubectl -n kube-system get cm kubeadm-config ${atLeast(ctx.v, '1.19.0') ? '-o yaml' : '-oyaml'}'\n`);
  if (p.flags['config']) return;
  if (!(await clusterReachable(ctx, p))) ctx.print(`[${prefix}] Error reading configuration from the Cluster. Falling back to default configuration\n`);
  if (!atLeast(ctx.v, '1.19.0')) ctx.warn('configset.go:202', 'WARNING: kubeadm cannot validate component configs for API groups [kubelet.config.k8s.io kubeproxy.config.k8s.io]');
  ctx.print('\n');
}

function longName(name: string): string {
  const leaf = LEAVES.find((l) => l.name === name);
  if (leaf) return leaf.longName;
  return confDef(name).longName;
}

/** Renews one certificate in place: same subject, SANs and usages, new key, signed by the existing CA. */
async function renewOne(ctx: Ctx, cfg: Cfg, name: string, key?: string): Promise<'renewed' | 'missing'> {
  const leaf = LEAVES.find((l) => l.name === name);
  if (leaf) {
    const l = tryLoad(ctx, cfg, leaf.base);
    if (!l.exists || !l.cert) return 'missing';
    const caDef = CAS.find((c) => c.base === leaf.ca)!;
    const ca = loadCA(ctx, cfg, leaf.ca, caDef.name);
    const c = l.cert;
    const pem = await issue({ cn: c.cn, orgs: c.orgs, dns: c.dns, ips: c.ips, usage: c.usage, notBefore: ca.info.notBefore, notAfter: new Date(Date.now() + YEAR) }, ca, key);
    await writePem(ctx.r(cfg.certDir), leaf.base, pem);
    return 'renewed';
  }
  const file = ctx.r(join(cfg.kubeconfigDir, name));
  if (!existsSync(file)) return 'missing';
  const text = readFileSync(file, 'utf8');
  const kc = parseKubeconfig(text);
  if (!kc.clientCert) return 'missing';
  const c = parseCert(kc.clientCert);
  const ca = loadCA(ctx, cfg, 'ca', 'ca');
  const pem = await issue({ cn: c.cn, orgs: c.orgs, usage: 'client', notBefore: ca.info.notBefore, notAfter: new Date(Date.now() + YEAR) }, ca, key);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const next = text
    .replace(/^(\s*client-certificate-data:\s*)\S+/m, `$1${b64(pem.cert)}`)
    .replace(/^(\s*client-key-data:\s*)\S+/m, `$1${b64(pem.key)}`);
  writeFileSync(file, next, { mode: 0o600 });
  return 'renewed';
}

async function renewCmd(ctx: Ctx, sub: string | undefined, p: Parsed, path: string, deprecated: boolean): Promise<void> {
  const names = renewNames(ctx);
  if (!sub) {
    ctx.print(`This command is not meant to be run on its own. See list of available subcommands.\n`);
    return;
  }
  if (sub !== 'all' && !names.includes(sub)) {
    // the subcommand exists, but with external etcd the renewal manager has no such certificate
    if (RENEW_ORDER.includes(sub)) ctx.fail(`${sub} is not a valid certificate for this cluster`);
    ctx.fail(`invalid subcommand "${sub}"\nSee '${path} -h' for help and examples`);
  }
  if (deprecated) ctx.err += `Command "${sub}" is deprecated, please use the same command under "kubeadm certs"\n`;
  if (p.flags['use-api'] === 'true' || p.flags['csr-only'] === 'true') ctx.fail('this simulator does not implement --use-api / --csr-only');
  const cfg = loadCfg(ctx, p);
  await readingConfig(ctx, p, 'renew');
  const embedsKubeconfigCerts = atLeast(ctx.v, '1.15.0');
  const todo = sub === 'all' ? names.filter((nm) => embedsKubeconfigCerts || !nm.endsWith('.conf')) : [sub];
  // every renewal gets a new private key; generate them up front, in parallel
  const keys = await Promise.all(todo.map(() => genKey()));
  for (const [i, nm] of todo.entries()) {
    const res = await renewOne(ctx, cfg, nm, keys[i]);
    if (res === 'missing') {
      if (sub === 'all') ctx.print(`MISSING! ${longName(nm)}\n`);
      else ctx.fail(`error reading ${nm}: ${nm.endsWith('.conf') ? `failed to load kubeconfig file ${join(cfg.kubeconfigDir, nm)}` : `couldn't load the certificate file ${join(cfg.certDir, LEAVES.find((l) => l.name === nm)!.base + '.crt')}`}: no such file or directory`);
    } else {
      ctx.print(`${longName(nm)} renewed\n`);
    }
  }
  if (sub === 'all' && atLeast(ctx.v, '1.20.0')) {
    ctx.print('\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.\n');
  }
}

interface ExpRow {
  name: string;
  missing: boolean;
  expires?: Date;
  residualMs?: number;
  ca?: string;
  external: boolean;
}

async function checkExpiration(ctx: Ctx, p: Parsed): Promise<void> {
  const output = p.flags['output'];
  if (output && !atLeast(ctx.v, '1.30.0')) ctx.fail(p.flags['output'] !== undefined ? 'unknown flag: --output' : '');
  const cfg = loadCfg(ctx, p);
  if (!output || output === 'text') await readingConfig(ctx, p, 'check-expiration');
  const now = Date.now();
  const rows: ExpRow[] = [];
  for (const nm of renewNames(ctx)) {
    const leaf = LEAVES.find((l) => l.name === nm);
    let cert: CertInfo | undefined;
    let ca = '';
    if (leaf) {
      cert = tryLoad(ctx, cfg, leaf.base).cert;
      ca = leaf.caName;
    } else {
      const f = ctx.r(join(cfg.kubeconfigDir, nm));
      if (existsSync(f)) {
        const kc = parseKubeconfig(readFileSync(f, 'utf8'));
        if (kc.clientCert) cert = parseCert(kc.clientCert);
      }
      ca = atLeast(ctx.v, '1.22.0') ? 'ca' : '';
    }
    rows.push(cert ? { name: nm, missing: false, expires: cert.notAfter, residualMs: cert.notAfter.getTime() - now, ca, external: false } : { name: nm, missing: true, ca, external: false });
  }
  const caRows: ExpRow[] = ['ca', 'etcd-ca', 'front-proxy-ca'].map((nm) => {
    const base = CAS.find((c) => c.name === nm)!.base;
    const l = tryLoad(ctx, cfg, base);
    const external = !!l.cert && !existsSync(pkiPath(ctx, cfg, base, '.key'));
    return l.cert ? { name: nm, missing: false, expires: l.cert.notAfter, residualMs: l.cert.notAfter.getTime() - now, external } : { name: nm, missing: true, external: false };
  });
  if (output === 'json' || output === 'yaml') {
    const item = (r: ExpRow, withCA: boolean) => ({
      name: r.name,
      ...(r.missing ? { missing: true } : { expirationDate: rfc3339(r.expires!), residualTime: Math.trunc(r.residualMs! / 1000) }),
      ...(withCA ? { caName: r.ca } : {}),
      externallyManaged: r.external,
    });
    const obj = { kind: 'CertificateExpirationInfo', apiVersion: 'output.kubeadm.k8s.io/v1alpha3', certificates: rows.map((x) => item(x, true)), certificateAuthorities: caRows.map((x) => item(x, false)) };
    if (output === 'json') ctx.print(JSON.stringify(obj, null, 4) + '\n');
    else {
      const { dump } = await import('js-yaml');
      ctx.print(dump(obj));
    }
    return;
  }
  if (output && output !== 'text') ctx.fail(`unable to match a printer suitable for the output format "${output}", allowed formats are: json,jsonpath,jsonpath-as-json,jsonpath-file,text,yaml`);
  const lines: string[][] = [['CERTIFICATE', 'EXPIRES', 'RESIDUAL TIME', 'CERTIFICATE AUTHORITY', 'EXTERNALLY MANAGED']];
  for (const x of rows) {
    if (x.missing) lines.push([`!MISSING! ${x.name}`, '', '', '', '']);
    else lines.push([x.name, kubeadmDate(x.expires!), shortHumanDuration(x.residualMs!), x.ca ?? '', (x.external ? 'yes' : 'no').padEnd(8)]);
  }
  lines.push(['']);
  lines.push(['CERTIFICATE AUTHORITY', 'EXPIRES', 'RESIDUAL TIME', 'EXTERNALLY MANAGED']);
  for (const x of caRows) {
    if (x.missing) lines.push([`!MISSING! ${x.name}`, '', '', '']);
    else lines.push([x.name, kubeadmDate(x.expires!), shortHumanDuration(x.residualMs!), (x.external ? 'yes' : 'no').padEnd(8)]);
  }
  ctx.print(tabwrite(lines, 10, 3));
}

// ---------------------------------------------------------------- version

function versionCmd(ctx: Ctx, p: Parsed): void {
  const v = ctx.v;
  const m = /^v(\d+)\.(\d+)/.exec(v);
  const info = {
    major: m?.[1] ?? '1', minor: m?.[2] ?? '0', gitVersion: v,
    gitCommit: createHash('sha1').update(v).digest('hex'), gitTreeState: 'clean', buildDate: '2024-10-22T20:26:08Z',
    goVersion: atLeast(v, '1.28.0') ? 'go1.22.8' : atLeast(v, '1.18.0') ? 'go1.13.15' : 'go1.10.8', compiler: 'gc', platform: 'linux/amd64',
  };
  const o = p.flags['output'] ?? '';
  if (o === 'short') return ctx.print(v + '\n');
  if (o === 'json') return ctx.print(JSON.stringify({ clientVersion: info }, null, 2) + '\n');
  if (o === 'yaml') return ctx.print(`clientVersion:\n${Object.entries(info).map(([k, val]) => `  ${k}: ${val}`).join('\n')}\n`);
  if (o !== '') ctx.fail(`invalid output format: ${o}`);
  ctx.print(
    `kubeadm version: &version.Info{Major:"${info.major}", Minor:"${info.minor}", GitVersion:"${v}", GitCommit:"${info.gitCommit}", GitTreeState:"clean", BuildDate:"${info.buildDate}", GoVersion:"${info.goVersion}", Compiler:"gc", Platform:"linux/amd64"}\n`,
  );
}

// ---------------------------------------------------------------- command tree

/** --control-plane-endpoint exists from 1.16 (kubernetes#79270; its 1.15 cherry-pick #79734 was refused) */
const hasCPEFlag = (v: string) => atLeast(v, '1.16.0');

function phaseCertFlags(v: string): FlagSpec {
  return {
    values: ['cert-dir', 'config', 'apiserver-advertise-address', 'apiserver-cert-extra-sans', ...(hasCPEFlag(v) ? ['control-plane-endpoint'] : []), 'kubernetes-version', 'service-cidr', 'service-dns-domain', 'csr-dir'],
    bools: ['dry-run', 'csr-only'],
  };
}
/**
 * The kubeconfig phase's flags (`alpha phase kubeconfig <sub>` 1.11-1.12: cmd/phases/kubeconfig.go; `init phase
 * kubeconfig <sub>` 1.13+: getKubeConfigPhaseFlags in cmd/phases/init/kubeconfig.go): --node-name only for `all`
 * and `kubelet`. --control-plane-endpoint from 1.16; --kubernetes-version and --dry-run, absent from the
 * 1.13 list, are taken to have come with it (not pinned to a release).
 */
function phaseKcFlags(v: string, sub: string | undefined): FlagSpec {
  return {
    values: [
      'cert-dir', 'config', 'apiserver-advertise-address', 'apiserver-bind-port', 'kubeconfig-dir',
      ...(hasCPEFlag(v) ? ['control-plane-endpoint', 'kubernetes-version'] : []),
      ...(sub === 'all' || sub === 'kubelet' ? ['node-name'] : []),
    ],
    bools: hasCPEFlag(v) ? ['dry-run'] : [],
  };
}
/**
 * `kubeconfig user` flags by version, from kubeadm's source: cmd/phases/kubeconfig.go (`alpha phase
 * kubeconfig user`, 1.11-1.12: --org since kubernetes#62627, no --config), cmd/alpha/kubeconfig.go
 * (`alpha kubeconfig user`, 1.13-1.19: address, port and cert-dir flags; 1.20: kubernetes#94879 replaced
 * them with --config) and cmd/kubeconfig.go (`kubeconfig user`, 1.21+).
 */
function userFlags(v: string): FlagSpec {
  if (!atLeast(v, '1.13.0')) return { values: ['client-name', 'token', 'cert-dir', 'apiserver-advertise-address', 'apiserver-bind-port', 'kubeconfig-dir'], repeat: ['org'] };
  if (!atLeast(v, '1.20.0')) return { values: ['client-name', 'token', 'cert-dir', 'apiserver-advertise-address', 'apiserver-bind-port', 'cluster-name'], repeat: ['org'] };
  return { values: ['client-name', 'config', 'token', 'validity-period'], repeat: ['org'] };
}
const RENEW_FLAGS: FlagSpec = { values: ['cert-dir', 'config', 'kubeconfig', 'kubeconfig-dir', 'csr-dir'], bools: ['use-api', 'csr-only'] };
const CHECK_FLAGS: FlagSpec = { values: ['cert-dir', 'config', 'kubeconfig', 'kubeconfig-dir'] };

const ROOT_COMMANDS_111 = ['alpha', 'completion', 'config', 'init', 'join', 'reset', 'token', 'upgrade', 'version', 'help'];
const ROOT_COMMANDS_118 = ['alpha', 'completion', 'config', 'init', 'join', 'reset', 'token', 'upgrade', 'version', 'help'];
const ROOT_COMMANDS_120 = ['alpha', 'certs', 'completion', 'config', 'init', 'join', 'kubeconfig', 'reset', 'token', 'upgrade', 'version', 'help'];

function rootCommands(ctx: Ctx): string[] {
  if (atLeast(ctx.v, '1.21.0')) return ROOT_COMMANDS_120;
  if (atLeast(ctx.v, '1.20.0')) return ROOT_COMMANDS_120.filter((c) => c !== 'kubeconfig');
  if (ctx.modern) return ROOT_COMMANDS_118;
  return ROOT_COMMANDS_111;
}

function invalidSub(ctx: Ctx, rest: string[], path: string): never {
  if (!ctx.modern) {
    // cobra <= 1.12: a non-runnable group with unknown args prints its help and exits 0
    ctx.print(`Usage:\n  ${path} [command]\n\nUse "${path} [command] --help" for more information about a command.\n`);
    throw new Exit(0);
  }
  ctx.err += `invalid subcommand "${rest.filter((a) => !a.startsWith('-')).join(' ')}"\nSee '${path} -h' for help and examples\n`;
  throw new Exit(1);
}

function preflightInit(ctx: Ctx): never {
  const m = NODE.manifests;
  ctx.print(ctx.modern ? `[init] Using Kubernetes version: ${ctx.v}\n[preflight] Running pre-flight checks\n` : `[init] using Kubernetes version: ${ctx.v}\n[preflight] running pre-flight checks\n`);
  const errs = [
    `[ERROR Port-${ctx.node.apiPort}]: Port ${ctx.node.apiPort} is in use`,
    ...['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'].map((c) => `[ERROR FileAvailable--etc-kubernetes-manifests-${c}.yaml]: ${m}/${c}.yaml already exists`),
    '[ERROR DirAvailable--var-lib-etcd]: /var/lib/etcd is not empty',
  ];
  ctx.err += `${ctx.modern ? 'error execution phase preflight: [preflight] Some fatal errors occurred:' : '[preflight] Some fatal errors occurred:'}\n${errs.map((e) => `\t${e}`).join('\n')}\n[preflight] If you know what you are doing, you can make a check non-fatal with \`--ignore-preflight-errors=...\`\n`;
  if (ctx.modern) ctx.err += 'To see the stack trace of this error execute with --v=5 or higher\n';
  throw new Exit(ctx.modern ? 1 : 2);
}

async function dispatch(ctx: Ctx, argv: string[]): Promise<void> {
  const words = argv.filter((a) => !a.startsWith('-'));
  const first = argv.find((a) => !a.startsWith('-'));
  if (!first) {
    ctx.print('kubeadm: easily bootstrap a secure Kubernetes cluster\n\nUsage:\n  kubeadm [command]\n');
    return;
  }
  if (!rootCommands(ctx).includes(first)) ctx.cobraFail(`unknown command "${first}" for "kubeadm"`, 'kubeadm');
  const w = words;
  const v = ctx.v;
  const flagsOnly = (spec: FlagSpec, path: string) => parseFlags(ctx, argv, spec, path);

  if (first === 'version') return versionCmd(ctx, flagsOnly({ values: ['output'] }, 'kubeadm version'));

  // --- 1.11: alpha phase certs|kubeconfig
  if (!ctx.modern) {
    if (w[0] === 'alpha' && w[1] === 'phase' && w[2] === 'certs') {
      const p = flagsOnly(phaseCertFlags(v), `kubeadm alpha phase certs ${w[3] ?? ''}`.trim());
      return certsPhaseCmd(ctx, p.pos[3], p, 'kubeadm alpha phase certs');
    }
    if (w[0] === 'alpha' && w[1] === 'phase' && w[2] === 'kubeconfig') {
      const p = flagsOnly(w[3] === 'user' ? userFlags(v) : phaseKcFlags(v, w[3]), `kubeadm alpha phase kubeconfig ${w[3] ?? ''}`.trim());
      return kubeconfigPhaseCmd(ctx, p.pos[3], p, 'kubeadm alpha phase kubeconfig');
    }
    if (w[0] === 'alpha') return invalidSub(ctx, w.slice(w[1] === 'phase' ? 2 : 1), w[1] === 'phase' ? 'kubeadm alpha phase' : 'kubeadm alpha');
    if (w[0] === 'init') preflightInit(ctx);
    ctx.fail(`the "${w.join(' ')}" command is not emulated by the node simulator`);
  }

  // --- >= 1.13
  if (w[0] === 'init') {
    if (w[1] !== 'phase') preflightInit(ctx);
    if (w[2] === 'certs') {
      const p = flagsOnly(phaseCertFlags(v), `kubeadm init phase certs ${w[3] ?? ''}`.trim());
      return certsPhaseCmd(ctx, p.pos[3], p, 'kubeadm init phase certs');
    }
    if (w[2] === 'kubeconfig') {
      const p = flagsOnly(phaseKcFlags(v, w[3]), `kubeadm init phase kubeconfig ${w[3] ?? ''}`.trim());
      return kubeconfigPhaseCmd(ctx, p.pos[3], p, 'kubeadm init phase kubeconfig');
    }
    return invalidSub(ctx, w.slice(2), 'kubeadm init phase');
  }
  const alphaCerts = w[0] === 'alpha' && w[1] === 'certs' && !atLeast(v, '1.21.0');
  const gaCerts = w[0] === 'certs' && atLeast(v, '1.20.0');
  if (alphaCerts || gaCerts) {
    const base = alphaCerts ? 2 : 1;
    const path = alphaCerts ? 'kubeadm alpha certs' : 'kubeadm certs';
    if (w[base] === 'renew') {
      const p = flagsOnly(RENEW_FLAGS, `${path} renew ${w[base + 1] ?? ''}`.trim());
      return renewCmd(ctx, p.pos[base + 1], p, `${path} renew`, alphaCerts && atLeast(v, '1.20.0'));
    }
    if (w[base] === 'check-expiration' && atLeast(v, '1.15.0')) {
      const spec = atLeast(v, '1.30.0') ? { ...CHECK_FLAGS, values: [...CHECK_FLAGS.values, 'output'], bools: ['allow-missing-template-keys', 'show-managed-fields'] } : CHECK_FLAGS;
      const p = flagsOnly(spec, `${path} check-expiration`);
      if (alphaCerts && atLeast(v, '1.20.0')) ctx.err += `Command "check-expiration" is deprecated, please use the same command under "kubeadm certs"\n`;
      return checkExpiration(ctx, p);
    }
    return invalidSub(ctx, w.slice(base), path);
  }
  const alphaKc = w[0] === 'alpha' && w[1] === 'kubeconfig' && !atLeast(v, '1.22.0');
  const gaKc = w[0] === 'kubeconfig' && atLeast(v, '1.21.0');
  if (alphaKc || gaKc) {
    const base = alphaKc ? 2 : 1;
    const path = alphaKc ? 'kubeadm alpha kubeconfig' : 'kubeadm kubeconfig';
    if (w[base] === 'user') {
      const p = flagsOnly(userFlags(v), `${path} user`);
      return userKubeconfig(ctx, p);
    }
    return invalidSub(ctx, w.slice(base), path);
  }
  if (w[0] === 'alpha') return invalidSub(ctx, w.slice(1), 'kubeadm alpha');
  if (w[0] === 'certs') return invalidSub(ctx, w.slice(1), 'kubeadm certs');
  ctx.fail(`the "${w.join(' ')}" command is not emulated by the node simulator`);
}

/** Runs the emulated kubeadm with argv (without "kubeadm"), on the node rooted at `root`. */
export async function kubeadm(root: string, argv: string[]): Promise<CmdResult> {
  let node: NodeConfig;
  try {
    node = loadNode(root);
  } catch {
    return { code: 1, stdout: '', stderr: `kubeadm (simulated): no node state at ${rooted(root, NODE.nodeJson)}\n` };
  }
  const ctx = new Ctx(root, node);
  try {
    await dispatch(ctx, argv);
    return { code: 0, stdout: ctx.out, stderr: ctx.err };
  } catch (e) {
    if (e instanceof Exit) return { code: e.code, stdout: ctx.out, stderr: ctx.err };
    return { code: 1, stdout: ctx.out, stderr: ctx.err + String((e as Error).message) + '\n' };
  }
}

// keep tree-shaking honest about helpers used only in some versions
void genKey;
void expiredAt;
void CONFS;
