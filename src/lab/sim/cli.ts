// Entry point of the emulated commands: node cli.js <kubeadm|systemctl|journalctl|crictl|docker|etcdctl> args...
// The node is the directory in SIM_ROOT (default "/"). systemctl, crictl and docker talk to the node
// agent over <root>/run/sim/agent.sock; kubeadm, journalctl and etcdctl work on files and the network.
import { connect, type Socket } from 'node:net';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NODE, rooted, simRoot } from './paths.js';
import type { CmdResult } from './kubeadm-context.js';
import type { NodeConfig } from './node.js';
// kubeadm and node.json's reader load only for the commands that need them: systemctl, crictl and
// docker (most calls, many of them polls) only talk to the agent, and every call is a node start.

function agentCall(root: string, cmd: string, args: string[]): Promise<CmdResult | undefined> {
  const dir = rooted(root, NODE.runSim);
  if (!existsSync(join(dir, 'agent.sock'))) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const cwd = process.cwd();
    let sock: Socket;
    try {
      process.chdir(dir); // UNIX socket paths are short: connect relative to the run directory
      sock = connect('agent.sock');
    } catch {
      resolve(undefined);
      return;
    } finally {
      process.chdir(cwd);
    }
    let buf = '';
    sock.on('connect', () => sock.write(JSON.stringify({ cmd, args }) + '\n'));
    sock.on('data', (d) => (buf += d.toString()));
    sock.on('end', () => {
      try {
        resolve(JSON.parse(buf) as CmdResult);
      } catch {
        resolve(undefined);
      }
    });
    sock.on('error', () => resolve(undefined));
  });
}

function agentDown(cmd: string): CmdResult {
  switch (cmd) {
    case 'systemctl':
      return { code: 1, stdout: '', stderr: 'System has not been booted with systemd as init system (PID 1). Can\'t operate.\nFailed to connect to bus: Host is down\n' };
    case 'docker':
      return { code: 1, stdout: '', stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n' };
    default:
      return {
        code: 1, stdout: '',
        stderr: `time="${new Date().toISOString()}" level=fatal msg="validate service connection: validate CRI v1 runtime API for endpoint \\"unix:///run/containerd/containerd.sock\\": rpc error: code = Unavailable desc = connection error: desc = \\"transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: no such file or directory\\""\n`,
      };
  }
}

function journalctl(root: string, args: string[]): CmdResult {
  let unit: string | undefined;
  let lines = -1;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-u' || a === '--unit') unit = args[++i];
    else if (a.startsWith('--unit=')) unit = a.slice(7);
    else if (/^-[a-zA-Z]*u$/.test(a)) unit = args[++i]; // -xeu kubelet
    else if (a === '-n' || a === '--lines') lines = Number(args[++i]);
    else if (a.startsWith('--lines=')) lines = Number(a.slice(8));
    else if (/^-n\d+$/.test(a)) lines = Number(a.slice(2));
    else if (/^-[a-zA-Z]*e[a-zA-Z]*$/.test(a) && lines < 0) lines = 1000;
  }
  unit = unit?.replace(/\.service$/, '');
  let all: string[] = [];
  try {
    all = readFileSync(rooted(root, NODE.logDir + '/kubelet.journal'), 'utf8').split('\n').filter(Boolean);
  } catch { /* no journal yet */ }
  if (unit && unit !== 'kubelet') all = [];
  if (lines >= 0) all = all.slice(-lines);
  if (all.length === 0) return { code: 0, stdout: '-- No entries --\n', stderr: '' };
  return { code: 0, stdout: all.join('\n') + '\n', stderr: '' };
}

async function etcdctl(root: string, args: string[]): Promise<CmdResult> {
  const flags: Record<string, string> = {};
  const pos: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
      else if (['--write-out', '-w', '--endpoints', '--cacert', '--cert', '--key', '--dial-timeout', '--command-timeout'].includes(a)) flags[a.slice(2)] = args[++i] ?? '';
      else flags[a.slice(2)] = 'true';
    } else if (a === '-w') flags['write-out'] = args[++i] ?? '';
    else pos.push(a);
  }
  const env = process.env;
  const endpoints = (flags['endpoints'] ?? env.ETCDCTL_ENDPOINTS ?? '127.0.0.1:2379').split(',');
  const cacert = flags['cacert'] ?? env.ETCDCTL_CACERT;
  const cert = flags['cert'] ?? env.ETCDCTL_CERT;
  const key = flags['key'] ?? env.ETCDCTL_KEY;
  if (pos[0] === 'version') return { code: 0, stdout: 'etcdctl version: 3.5.15\nAPI version: 3.5\n', stderr: '' };
  if (!(pos[0] === 'endpoint' && pos[1] === 'health')) {
    return { code: 1, stdout: '', stderr: `Error: the simulator's etcdctl only knows "endpoint health" and "version"\n` };
  }
  const { connect: tlsConnect } = await import('node:tls');
  let node: NodeConfig | undefined;
  try {
    node = (await import('./node.js')).loadNode(root);
  } catch { /* not a node */ }
  const read = (p?: string) => (p ? readFileSync(rooted(root, p)) : undefined);
  let out = '';
  let err = '';
  let healthy = true;
  for (const ep of endpoints) {
    const u = new URL(ep.includes('://') ? ep : `https://${ep}`);
    let port = Number(u.port || 2379);
    // the sandbox runs etcd on a free port: map the well-known one to it
    if (node && port === 2379 && node.etcdPort !== 2379 && ['127.0.0.1', 'localhost', node.advertiseAddress].includes(u.hostname)) port = node.etcdPort;
    const started = process.hrtime.bigint();
    const res = await new Promise<string | undefined>((resolve) => {
      let done = false;
      const finish = (e?: string) => {
        if (!done) {
          done = true;
          resolve(e);
        }
      };
      try {
        const s = tlsConnect({ host: u.hostname, port, ca: read(cacert), cert: read(cert), key: read(key), checkServerIdentity: () => undefined });
        s.setTimeout(3000, () => {
          s.destroy();
          finish('context deadline exceeded');
        });
        s.on('secureConnect', () => s.write(`GET /health HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`));
        s.on('data', (d) => {
          s.destroy();
          finish(d.toString().includes('"health":"true"') ? undefined : 'unhealthy');
        });
        s.on('error', (e: NodeJS.ErrnoException) =>
          finish(e.code === 'ECONNREFUSED'
            ? `connection error: desc = "transport: Error while dialing: dial tcp ${u.hostname}:${port}: connect: connection refused"`
            : `connection error: desc = "transport: authentication handshake failed: ${e.code === 'CERT_HAS_EXPIRED' ? 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid' : e.message}"`));
        s.on('close', () => finish('connection closed'));
      } catch (e) {
        finish((e as Error).message);
      }
    });
    const took = Number(process.hrtime.bigint() - started) / 1e6;
    if (res === undefined) {
      out += `${ep} is healthy: successfully committed proposal: took = ${took.toFixed(6).replace(/0+$/, '')}ms\n`;
    } else {
      healthy = false;
      err += `{"level":"warn","ts":"${new Date().toISOString()}","logger":"client","caller":"v3@v3.5.15/retry_interceptor.go:62","msg":"retrying of unary invoker failed","target":"etcd-endpoints://0xc0000d2000/${u.host}","attempt":0,"error":"rpc error: code = DeadlineExceeded desc = latest balancer error: last connection error: ${res.replace(/"/g, '\\"')}"}\n`;
      err += `${ep} is unhealthy: failed to commit proposal: context deadline exceeded\n`;
    }
  }
  if (!healthy) err += 'Error: unhealthy cluster\n';
  return { code: healthy ? 0 : 1, stdout: out, stderr: err };
}

export async function runCommand(cmd: string, args: string[], root = simRoot()): Promise<CmdResult> {
  switch (cmd) {
    case 'kubeadm':
      return (await import('./kubeadm.js')).kubeadm(root, args);
    case 'journalctl':
      return journalctl(root, args);
    case 'etcdctl':
      return etcdctl(root, args);
    case 'systemctl':
    case 'crictl':
    case 'docker':
      return (await agentCall(root, cmd, args)) ?? agentDown(cmd);
    default:
      return { code: 127, stdout: '', stderr: `${cmd}: command not found\n` };
  }
}

async function main(): Promise<void> {
  const [cmd, ...args] = process.argv.slice(2);
  const res = await runCommand(cmd ?? '', args);
  process.stdout.write(res.stdout);
  process.stderr.write(res.stderr);
  process.exitCode = res.code;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
