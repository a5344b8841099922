// The emulated kubeadm's context: the command's output and exit (Ctx), cobra-style flag parsing, the
// configuration from flags and --config, and the PKI files it loads. The commands are in kubeadm.ts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll as yamlLoadAll } from 'js-yaml';
import { NODE, rooted } from './paths.js';
import { atLeast, type NodeConfig } from './node.js';
import { goTime, parseCert, type CertInfo, type Pem } from './pki.js';
import { klog } from './format.js';

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Exit extends Error {
  constructor(public readonly code: number) {
    super(`exit ${code}`);
  }
}

export class Ctx {
  out = '';
  err = '';
  constructor(public readonly root: string, public node: NodeConfig) {}
  print(s: string): void {
    this.out += s;
  }
  warn(where: string, msg: string): void {
    this.err += klog('W', process.pid, where, msg) + '\n';
  }
  get v(): string {
    return this.node.version;
  }
  get modern(): boolean {
    return atLeast(this.v, '1.13.0');
  }
  /** kubeadm's CheckErr: the message, then (>= 1.13) the hint about the stack trace; exit 1 */
  fail(msg: string, code = 1): never {
    this.err += msg.endsWith('\n') ? msg : msg + '\n';
    if (this.modern && code !== 0) this.err += 'To see the stack trace of this error execute with --v=5 or higher\n';
    throw new Exit(code);
  }
  /** cobra's own errors when kubeadm does not silence them (<= 1.12) */
  cobraFail(msg: string, path: string, usage = false): never {
    if (this.modern) this.fail(msg);
    this.err += `Error: ${msg}\n`;
    if (usage) this.err += `Usage:\n  ${path} [flags]\n\n`;
    else this.err += `Run '${path} --help' for usage.\n`;
    throw new Exit(1);
  }
  r(p: string): string {
    return rooted(this.root, p);
  }
}

// ---------------------------------------------------------------- flags

export interface FlagSpec {
  /** flags taking a value */
  values: string[];
  /** boolean flags */
  bools?: string[];
  /** repeatable flags */
  repeat?: string[];
}

const GLOBAL_VALUES = ['v', 'rootfs', 'log-file', 'log-file-max-size', 'vmodule'];
const GLOBAL_BOOLS = ['add-dir-header', 'skip-headers', 'skip-log-headers', 'help', 'h'];

export interface Parsed {
  pos: string[];
  flags: Record<string, string>;
  multi: Record<string, string[]>;
}

export function parseFlags(ctx: Ctx, args: string[], spec: FlagSpec, path: string): Parsed {
  const pos: string[] = [];
  const flags: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  const values = new Set([...spec.values, ...(spec.repeat ?? []), ...GLOBAL_VALUES]);
  const bools = new Set([...(spec.bools ?? []), ...GLOBAL_BOOLS]);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      pos.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (values.has(name)) {
        let val: string | undefined;
        if (eq > 0) val = a.slice(eq + 1);
        else {
          val = args[++i];
          if (val === undefined) ctx.cobraFail(`flag needs an argument: --${name}`, path, true);
        }
        flags[name] = val;
        (multi[name] ??= []).push(...val.split(','));
      } else if (bools.has(name)) {
        flags[name] = eq > 0 ? a.slice(eq + 1) : 'true';
      } else {
        ctx.cobraFail(`unknown flag: --${name}`, path, true);
      }
    } else if (a.startsWith('-') && a.length > 1) {
      const name = a.slice(1, 2);
      const rest = a.slice(2).replace(/^=/, '');
      if (name === 'v') {
        flags['v'] = rest || args[++i] || '0';
      } else if (name === 'o' && values.has('output')) {
        flags['output'] = rest || args[++i] || '';
      } else if (name === 'h') {
        flags['help'] = 'true';
      } else {
        ctx.cobraFail(`unknown shorthand flag: '${name}' in ${a}`, path, true);
      }
    } else {
      pos.push(a);
    }
  }
  return { pos, flags, multi };
}

// ---------------------------------------------------------------- configuration (flags + --config)

export interface Cfg {
  certDir: string; // node path
  kubeconfigDir: string; // node path
  advertiseAddress: string;
  bindPort: number;
  controlPlaneEndpoint?: string;
  nodeName: string;
  certSANs: string[];
  serviceSubnet: string;
  dnsDomain: string;
  clusterName: string;
}

/** kubeadm's default API server port (constants.KubeAPIServerPort): what every command assumes unless told otherwise */
export const DEFAULT_BIND_PORT = 6443;

export function loadCfg(ctx: Ctx, p: Parsed): Cfg {
  const n = ctx.node;
  const cfg: Cfg = {
    certDir: NODE.pkiDir,
    kubeconfigDir: NODE.kubeDir,
    advertiseAddress: n.advertiseAddress,
    // kubeadm's default, not the port the node's API server really listens on: the init phases and
    // `kubeconfig user` read no cluster configuration (a node on another port needs --apiserver-bind-port
    // or bindPort in --config, or gets :6443)
    bindPort: DEFAULT_BIND_PORT,
    nodeName: n.nodeName,
    certSANs: [...n.certSANs],
    serviceSubnet: n.serviceSubnet,
    dnsDomain: n.dnsDomain,
    clusterName: n.clusterName,
  };
  const file = p.flags['config'];
  if (file) {
    let docs: unknown[];
    try {
      docs = yamlLoadAll(readFileSync(ctx.r(file), 'utf8'));
    } catch {
      ctx.fail(`unable to read config from "${file}" : open ${file}: no such file or directory`);
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kubeadm config documents of every version: each field is probed for itself
    for (const d of docs as Array<Record<string, any>>) {
      if (!d || typeof d !== 'object') continue;
      if (d.certificatesDir) cfg.certDir = d.certificatesDir;
      if (d.clusterName) cfg.clusterName = d.clusterName;
      if (d.controlPlaneEndpoint) cfg.controlPlaneEndpoint = d.controlPlaneEndpoint;
      if (d.networking?.serviceSubnet) cfg.serviceSubnet = d.networking.serviceSubnet;
      if (d.networking?.dnsDomain) cfg.dnsDomain = d.networking.dnsDomain;
      if (Array.isArray(d.apiServer?.certSANs)) cfg.certSANs = d.apiServer.certSANs.map(String);
      if (Array.isArray(d.apiServerCertSANs)) cfg.certSANs = d.apiServerCertSANs.map(String);
      const ep = d.localAPIEndpoint ?? d.api;
      if (ep?.advertiseAddress) cfg.advertiseAddress = ep.advertiseAddress;
      if (ep?.bindPort) cfg.bindPort = Number(ep.bindPort);
      if (d.nodeRegistration?.name) cfg.nodeName = d.nodeRegistration.name;
      if (d.nodeName) cfg.nodeName = d.nodeName;
    }
  }
  const f = p.flags;
  if (f['cert-dir']) cfg.certDir = f['cert-dir'];
  if (f['kubeconfig-dir']) cfg.kubeconfigDir = f['kubeconfig-dir'];
  if (f['apiserver-advertise-address']) cfg.advertiseAddress = f['apiserver-advertise-address'];
  if (f['apiserver-bind-port']) cfg.bindPort = Number(f['apiserver-bind-port']);
  if (f['control-plane-endpoint']) cfg.controlPlaneEndpoint = f['control-plane-endpoint'];
  if (f['node-name']) cfg.nodeName = f['node-name'];
  if (p.multi['apiserver-cert-extra-sans']) cfg.certSANs = [...cfg.certSANs, ...p.multi['apiserver-cert-extra-sans'].filter(Boolean)];
  if (f['service-cidr']) cfg.serviceSubnet = f['service-cidr'];
  if (f['service-dns-domain']) cfg.dnsDomain = f['service-dns-domain'];
  return cfg;
}

export function cfgNode(ctx: Ctx, cfg: Cfg): NodeConfig {
  return { ...ctx.node, advertiseAddress: cfg.advertiseAddress, nodeName: cfg.nodeName, serviceSubnet: cfg.serviceSubnet, dnsDomain: cfg.dnsDomain };
}

/** host:port as Go's net.JoinHostPort writes it: an IPv6 address in brackets */
function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The API server's local endpoint (kubeadm's LocalAPIEndpoint: advertise address and bind port). */
export function localServerURL(cfg: Cfg): string {
  return `https://${joinHostPort(cfg.advertiseAddress, cfg.bindPort)}`;
}

/** kubeadm's GetControlPlaneEndpoint: controlPlaneEndpoint (its port, else the bind port), else the local endpoint. */
export function serverURL(cfg: Cfg): string {
  if (cfg.controlPlaneEndpoint) {
    const ep = cfg.controlPlaneEndpoint;
    // host:port, [v6]:port, or a host alone (a bare IPv6 address has more than one colon)
    const hasPort = ep.startsWith('[') ? /\]:\d+$/.test(ep) : ep.split(':').length === 2;
    return `https://${hasPort ? ep : joinHostPort(ep.replace(/^\[(.*)\]$/, '$1'), cfg.bindPort)}`;
  }
  return localServerURL(cfg);
}

// ---------------------------------------------------------------- files

export function pkiPath(ctx: Ctx, cfg: Cfg, base: string, ext: string): string {
  return ctx.r(join(cfg.certDir, base + ext));
}

export function tryLoad(ctx: Ctx, cfg: Cfg, base: string): { cert?: CertInfo; key?: string; exists: boolean; err?: string } {
  const crt = pkiPath(ctx, cfg, base, '.crt');
  const key = pkiPath(ctx, cfg, base, '.key');
  const exists = existsSync(crt) || existsSync(key);
  if (!exists) return { exists };
  try {
    const cert = parseCert(readFileSync(crt));
    if (!existsSync(key)) return { exists, cert, err: `couldn't load the private key file ${join(cfg.certDir, base + '.key')}: open ${join(cfg.certDir, base + '.key')}: no such file or directory` };
    return { exists, cert, key: readFileSync(key, 'utf8') };
  } catch {
    return { exists, err: `couldn't load the certificate file ${join(cfg.certDir, base + '.crt')}: open ${join(cfg.certDir, base + '.crt')}: no such file or directory` };
  }
}

export function goList(a: string[]): string {
  return `[${a.join(' ')}]`;
}

export function periodError(c: CertInfo): string | undefined {
  const now = Date.now();
  const period = `NotBefore: ${goTime(c.notBefore)}, NotAfter: ${goTime(c.notAfter)}`;
  if (now < c.notBefore.getTime()) return `the certificate is not valid yet: ${period}`;
  if (now > c.notAfter.getTime()) return `the certificate has expired: ${period}`;
  return undefined;
}

/** Certificate period validation when loading: an error before 1.20 (TryLoadCertFromDisk), a warning from 1.20 (kubernetes#94504). */
export function expiredIsError(ctx: Ctx): boolean {
  if (ctx.node.expiredInitCerts) return ctx.node.expiredInitCerts === 'error';
  return !atLeast(ctx.v, '1.20.0');
}

export function loadCA(ctx: Ctx, cfg: Cfg, caBase: string, caName: string): Pem & { info: CertInfo } {
  const l = tryLoad(ctx, cfg, caBase);
  if (!l.exists || !l.cert || !l.key) {
    ctx.fail(`couldn't load CA certificate ${caName}: ${l.err ?? `couldn't load the certificate file ${join(cfg.certDir, caBase + '.crt')}: open ${join(cfg.certDir, caBase + '.crt')}: no such file or directory`}`);
  }
  return { cert: readFileSync(pkiPath(ctx, cfg, caBase, '.crt'), 'utf8'), key: l.key, info: l.cert };
}

