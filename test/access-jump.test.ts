/**
 * ProxyJump against real OpenSSH: target hosts in a network namespace of their own (unshare -n),
 * which this machine cannot reach, and a bastion (a real sshd in inetd mode, src/lab/bastion.ts)
 * reachable from here that reaches them. Runbooks are applied through the bastion from an
 * ssh_config file and from an inventory's ansible_ssh_common_args; one bastion connection serves
 * every host of a run; several hops; a changed or unknown bastion key is refused; a ProxyJump from
 * an Included file under `Match exec`; ProxyCommand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labNetwork, type LabHost } from '../src/lab/hosts.js';
import { privateNetwork, startBastion, type Bastion, type PrivateNetwork } from '../src/lab/bastion.js';
import { SshTransport } from '../src/transport/ssh.js';
import { openTransport } from '../src/engine/connect.js';
import { loadInventoryFile } from '../src/inventory/load.js';
import { applyCmd } from '../src/cli/apply.js';
import { connectCmd } from '../src/cli/connect.js';
import { isUserError } from '../src/errors.js';
import { genKey } from '../src/lab/sim/pki.js';
import { Capture } from './support/capture.js';
import { lab, useLab, dir as work } from './support/lab.js';

let net: PrivateNetwork | undefined;
let bastion: Bastion;
let kh: string;
let bastionLine: string;

const BASTION_PORT = 2222;

function file(name: string, text: string): string {
  const p = join(work, name);
  writeFileSync(p, text);
  return p;
}

function hostKeyOf(h: LabHost): string {
  return readFileSync(join(lab.dir, 'hosts', h.name, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
}

const RB = `apiVersion: runbook/v1
name: through the bastion
hosts: all
steps:
  - name: a file written behind the bastion
    copy: { dest: /tmp/through-bastion, content: "{{ host.name }} via {{ how }}\\n", mode: "0640" }
`;

const skip = useLab({
  // the hosts run in a network namespace of their own, made first and stopped after them
  start: async () => {
    net = await privateNetwork();
    return { count: 3, firstAddress: '127.1.206.1', namePrefix: 'pj', netnsPid: net.pid };
  },
  tmp: 'access-jump-',
  requires: ['ip', 'nsenter'],
  setup: async () => {
    bastion = await startBastion(lab.hosts[0]!, net!.pid, labNetwork('127.1.205.1'), BASTION_PORT);
    bastionLine = `[${bastion.address}]:${BASTION_PORT} ${hostKeyOf(lab.hosts[0]!)}`;
    kh = file('known_hosts', readFileSync(lab.knownHostsPath, 'utf8') + bastionLine + '\n');
  },
  teardown: async () => {
    await bastion?.stop();
  },
  afterStop: async () => {
    await net?.stop();
  },
});

/** An inventory of the two hosts behind the bastion, reached as `args` (ansible_ssh_common_args) says; `how` ends up in the file written. */
function argsInventory(name: string, how: string, args: string): string {
  const [, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost];
  return file(
    name,
    [
      'all:',
      '  vars:',
      `    how: ${how}`,
      `    ansible_ssh_private_key_file: ${lab.privateKeyPath}`,
      `    ansible_ssh_common_args: ${args}`,
      '  hosts:',
      `    ${h2.name}: { ansible_host: ${h2.address}, ansible_user: root }`,
      `    ${h3.name}: { ansible_host: ${h3.address}, ansible_user: root }`,
      '',
    ].join('\n'),
  );
}

/** An inventory of the two hosts behind the bastion, by name, reached as the ssh config file `cfg` says (-F); `how` ends up in the file written. */
function configInventory(name: string, how: string, cfg: string, moreArgs = ''): string {
  const [, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost];
  return file(
    name,
    `all:\n  vars:\n    how: ${how}\n    ansible_user: root\n    ansible_ssh_private_key_file: ${lab.privateKeyPath}\n    ansible_ssh_common_args: "-F ${cfg} -o UserKnownHostsFile=${kh} -o StrictHostKeyChecking=yes${moreArgs}"\n  hosts:\n    ${h2.name}: {}\n    ${h3.name}: {}\n`,
  );
}

/** Applies the runbook with `inv`: both hosts behind the bastion get their file, written `via how`. Returns the bastion connections it took. */
async function applyBehindBastion(inv: string, how: string): Promise<number> {
  const before = bastion.connections;
  const out = new Capture();
  const r = await applyCmd({ runbook: file('rb.yaml', RB), inventory: inv, stateDir: join(work, 'state'), stdout: out, stderr: out });
  assert.equal(r.exitCode, 0, out.text);
  for (const h of lab.hosts.slice(1)) assert.equal(readFileSync(lab.hostPath(h, '/tmp/through-bastion'), 'utf8'), `${h.name} via ${how}\n`);
  return bastion.connections - before;
}

/** Waits up to 3 s for every process whose arguments include all of `args` to be gone: no proxy outlives its run. */
async function noProxyLeft(args: string[]): Promise<void> {
  const cmdline = (pid: string) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return [];
    }
  };
  const proxies = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d) && args.every((a) => cmdline(d).includes(a)));
  for (let i = 0; i < 30 && proxies().length; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(proxies(), [], 'a ProxyCommand process is still running after the run');
}

test('the targets cannot be reached from here, only through the bastion', { skip }, async () => {
  const h = lab.hosts[1]!;
  await assert.rejects(
    SshTransport.connect({ host: h.address, user: 'root', privateKeyPath: lab.privateKeyPath, knownHostsPath: kh, connectTimeoutMs: 2000 }),
    (e: unknown) => isUserError(e) && e.kind === 'connect',
  );
});

test('ProxyJump from an ssh_config file: a runbook applied to two hosts behind the bastion over one bastion connection', { skip }, async () => {
  const [, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost];
  const cfg = file(
    'ssh_config',
    [`Host ${h2.name}`, `  HostName ${h2.address}`, `Host ${h3.name}`, `  HostName ${h3.address}`, 'Host pj-*', '  ProxyJump gate', 'Host gate', `  HostName ${bastion.address}`, `  Port ${BASTION_PORT}`, '  User root', ''].join('\n'),
  );
  const inv = configInventory('inv-config.yaml', 'ssh_config', cfg);
  assert.equal(await applyBehindBastion(inv, 'ssh_config'), 1, 'both hosts share one connection to the bastion');
});

test('ssh_config as ssh reads it: the bastion from an Included file, under a `Match exec` decided for each host', { skip }, async () => {
  const [, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost];
  mkdirSync(join(work, 'ssh_config.d'), { recursive: true });
  file('ssh_config.d/50-hosts.conf', [`Host ${h2.name}`, `  HostName ${h2.address}`, `Host ${h3.name}`, `  HostName ${h3.address}`, ''].join('\n'));
  // "off the VPN, go through the bastion": here a flag file per host says whether it is reached directly
  file('ssh_config.d/60-route.conf', [`Match originalhost pj-* !exec "test -e ${work}/direct-%n"`, '  ProxyJump gate', 'Host gate', `  HostName ${bastion.address}`, `  Port ${BASTION_PORT}`, '  User root', ''].join('\n'));
  const cfg = file('ssh_config-include', `Include ${work}/ssh_config.d/*.conf\n`);
  // the hosts by name, as the config knows them (an ansible_host would be the name ssh is given)
  const inv = configInventory('inv-include.yaml', 'match-exec', cfg, ' -o ConnectTimeout=3');
  const flag = file(`direct-${h3.name}`, '');
  let out = new Capture();
  let r = await applyCmd({ runbook: file('rb.yaml', RB), inventory: inv, stateDir: join(work, 'state'), stdout: out, stderr: out });
  // h3 is dialled directly, as its flag says, and cannot be reached from here; h2 went through the bastion
  assert.notEqual(r.exitCode, 0, out.text);
  assert.equal(readFileSync(lab.hostPath(h2, '/tmp/through-bastion'), 'utf8'), `${h2.name} via match-exec\n`);
  const h3File = lab.hostPath(h3, '/tmp/through-bastion');
  assert.ok(!existsSync(h3File) || readFileSync(h3File, 'utf8') !== `${h3.name} via match-exec\n`, 'nothing reached h3');
  assert.match(out.text, new RegExp(`${h3.name}[^\\n]*(connect|refused|reach)`, 'i'));
  rmSync(flag);
  out = new Capture();
  r = await applyCmd({ runbook: file('rb.yaml', RB), inventory: inv, stateDir: join(work, 'state'), stdout: out, stderr: out });
  assert.equal(r.exitCode, 0, out.text);
  assert.equal(readFileSync(lab.hostPath(h3, '/tmp/through-bastion'), 'utf8'), `${h3.name} via match-exec\n`);
});

test('the jump host reached through its own ProxyCommand, as ssh reaches it: one proxy, one bastion connection, for both hosts', { skip }, async () => {
  const [, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost];
  const marker = join(work, 'gate-proxy.log');
  // a plain TCP pipe standing in for an SSM or IAP tunnel to the bastion; it notes each start
  const pipe = file(
    'tcp-pipe.mjs',
    "import { connect } from 'node:net';\nimport { appendFileSync } from 'node:fs';\nconst [host, port, log] = process.argv.slice(2);\nappendFileSync(log, `${host}:${port}\\n`);\nconst s = connect(Number(port), host);\nprocess.stdin.pipe(s);\ns.pipe(process.stdout);\ns.on('close', () => process.exit(0));\n",
  );
  const cfg = file(
    'ssh_config-gate-proxy',
    [`Host ${h2.name}`, `  HostName ${h2.address}`, `Host ${h3.name}`, `  HostName ${h3.address}`, 'Host pj-*', '  ProxyJump gate', 'Host gate', `  HostName ${bastion.address}`, `  Port ${BASTION_PORT}`, '  User root', `  ProxyCommand ${process.execPath} ${pipe} %h %p ${marker}`, ''].join('\n'),
  );
  const inv = configInventory('inv-gate-proxy.yaml', 'gate-proxy', cfg);
  const connections = await applyBehindBastion(inv, 'gate-proxy');
  assert.equal(readFileSync(marker, 'utf8'), `${bastion.address}:${BASTION_PORT}\n`, 'the proxy ran once, to the bastion');
  assert.equal(connections, 1, 'both hosts share one connection to the bastion');
  await noProxyLeft([pipe]);
});

test('ProxyJump from ansible_ssh_common_args: connect and apply with no flags at all', { skip }, async () => {
  const inv = argsInventory('inv-args.yaml', 'ansible_ssh_common_args', `"-o ProxyJump=root@${bastion.address}:${BASTION_PORT} -o UserKnownHostsFile=${kh} -o StrictHostKeyChecking=yes"`);
  const { diagnostics } = await loadInventoryFile(inv);
  assert.deepEqual(diagnostics, [], 'every option is honoured: no warning');
  const c = await connectCmd({ inventory: inv, stdout: new Capture(), stderr: new Capture() });
  assert.equal(c.exitCode, 0, JSON.stringify(c.rows));
  await applyBehindBastion(inv, 'ansible_ssh_common_args');
});

test('several hops: -J bastion,second-hop; every hop checked against known_hosts', { skip }, async () => {
  const [h1, , h3] = lab.hosts as [LabHost, LabHost, LabHost];
  const inv = file('inv-hops.yaml', `all:\n  hosts:\n    ${h3.name}: { ansible_host: ${h3.address}, ansible_user: root, ansible_ssh_private_key_file: ${lab.privateKeyPath} }\n`);
  const { inventory } = await loadInventoryFile(inv);
  const h = inventory!.hosts.get(h3.name)!;
  // the second hop is the bastion host's own sshd inside the private network
  const t = await openTransport(h, { jump: `root@${bastion.address}:${BASTION_PORT},root@${h1.address}`, knownHosts: kh, sshConfigText: '', systemSshConfigText: '' });
  try {
    await t.writeAtomic('/tmp/two-hops', 'two hops\n');
    assert.equal(readFileSync(lab.hostPath(h3, '/tmp/two-hops'), 'utf8'), 'two hops\n');
  } finally {
    await t.close();
  }
  // a hop nobody names a user for is logged into as the local login (root here), as `ssh -J` does,
  // never as the target's user: the bastion lets root in, and only the target refuses `nobody`
  await assert.rejects(
    openTransport({ ...h, user: 'nobody' }, { jump: `${bastion.address}:${BASTION_PORT}`, knownHosts: kh, sshConfigText: '', systemSshConfigText: '' }),
    (e: unknown) => isUserError(e) && !e.message.includes('jump host') && /authentication failed for .*nobody@/.test(e.message),
  );
  // when the bastion refuses that login (here: a key it does not know), the error says which user was tried and why
  const stranger = join(work, 'stranger.pem');
  writeFileSync(stranger, await genKey(), { mode: 0o600 });
  await assert.rejects(
    openTransport({ ...h, privateKeyFile: stranger }, { jump: `${bastion.address}:${BASTION_PORT}`, knownHosts: kh, sshConfigText: '', systemSshConfigText: '' }),
    (e: unknown) => isUserError(e) && /through the jump host .*authentication failed.*was logged into as root, your login name, as ssh does/.test(e.message),
  );
  // the second hop unknown to known_hosts: refused like the target would be
  const khNoHop = file('kh-no-hop', readFileSync(kh, 'utf8').split('\n').filter((l) => !l.startsWith(`${h1.address} `)).join('\n'));
  await assert.rejects(
    openTransport(h, { jump: `root@${bastion.address}:${BASTION_PORT},root@${h1.address}`, knownHosts: khNoHop, sshConfigText: '', systemSshConfigText: '' }),
    (e: unknown) => isUserError(e) && e.kind === 'host-key' && e.message.includes(`jump host ${h1.address}`) && /is not in/.test(e.message),
  );
});

test('a changed or unknown host key on the bastion is refused before anything reaches the target', { skip }, async () => {
  const [, h2] = lab.hosts as [LabHost, LabHost];
  const changed = file('kh-changed', readFileSync(kh, 'utf8').replace(bastionLine, `[${bastion.address}]:${BASTION_PORT} ${hostKeyOf(h2)}`));
  const unknown = file('kh-unknown', readFileSync(kh, 'utf8').replace(bastionLine + '\n', ''));
  const entry = (known: string) => ({
    name: h2.name,
    address: h2.address,
    port: 22,
    user: 'root',
    privateKeyFile: lab.privateKeyPath,
    knownHostsFile: known,
    become: false,
    connection: 'ssh' as const,
    groups: ['all'],
    vars: { ansible_ssh_common_args: `-o ProxyJump=root@${bastion.address}:${BASTION_PORT}` },
  });
  await assert.rejects(
    openTransport(entry(changed), { sshConfigText: '', systemSshConfigText: '' }),
    (e: unknown) => isUserError(e) && e.kind === 'host-key' && /through the jump host .*HOST KEY CHANGED for 127\.\d+\.205\.1:2222/.test(e.message),
  );
  await assert.rejects(openTransport(entry(unknown), { sshConfigText: '', systemSshConfigText: '' }), (e: unknown) => isUserError(e) && e.kind === 'host-key' && /is not in/.test(e.message));
});

test('ProxyCommand `ssh -W %h:%p` through the bastion, from the inventory: applied with no flags; a ProxyCommand that fails says why, in its own words', { skip }, async () => {
  const h2 = lab.hosts[1]!;
  // the real OpenSSH client as the proxy, as an Ansible inventory of a fleet behind a bastion has it
  const proxy = `ssh -F /dev/null -q -i ${lab.privateKeyPath} -o UserKnownHostsFile=${kh} -o StrictHostKeyChecking=yes -o BatchMode=yes -p ${BASTION_PORT} -W %h:%p root@${bastion.address}`;
  const inv = argsInventory('inv-proxy-command.yaml', 'ProxyCommand', `'-o ProxyCommand="${proxy}" -o UserKnownHostsFile=${kh} -o StrictHostKeyChecking=yes'`);
  const { diagnostics } = await loadInventoryFile(inv);
  assert.deepEqual(diagnostics, [], 'ProxyCommand is honoured: no warning');
  assert.equal(await applyBehindBastion(inv, 'ProxyCommand'), 2, 'one proxy, so one bastion connection, per host (as ssh(1) makes them)');
  await noProxyLeft(['-W', `root@${bastion.address}`]);
  // a proxy that cannot get through: its exit and its last words, not a bare handshake failure
  const broken = file('inv-proxy-broken.yaml', `all:\n  hosts:\n    ${h2.name}: { ansible_host: ${h2.address}, ansible_user: root, ansible_ssh_private_key_file: ${lab.privateKeyPath}, ansible_ssh_common_args: '-o ProxyCommand="sh -c \\"echo no route to %h >&2; exit 3\\""' }\n`);
  const { inventory } = await loadInventoryFile(broken);
  await assert.rejects(
    openTransport(inventory!.hosts.get(h2.name)!, { knownHosts: kh, sshConfigText: '', systemSshConfigText: '', connectTimeoutMs: 5000 }),
    (e: unknown) => isUserError(e) && e.kind === 'connect' && new RegExp(`its ProxyCommand \\(\`sh …\`\\) exited with code 3: no route to ${h2.address.replace(/\./g, '\\.')}`).test(e.message),
  );
});
