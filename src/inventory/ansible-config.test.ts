/** ansible.cfg and ANSIBLE_* as Ansible reads them, checked against Ansible's own `ansible-config dump`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findAnsibleConfig, loadAnsibleDefaults } from './ansible-config.js';
import { tempDir } from '../actions/testing.js';

const ansibleConfig = spawnSync('ansible-config', ['--version'], { encoding: 'utf8' });
const noAnsible = ansibleConfig.error || ansibleConfig.status !== 0 ? 'ansible-core (ansible-config) is not installed' : false;
const noPython = spawnSync('python3', ['--version']).error ? 'python3 is not installed' : false;

/** What Ansible's ssh connection and become would use: `ansible-config dump`'s values for them. */
function ansibleSays(env: NodeJS.ProcessEnv, cwd: string): Record<string, string> {
  const r = spawnSync('ansible-config', ['dump', '--only-changed', '-t', 'all'], { encoding: 'utf8', cwd, env: { PATH: process.env.PATH, HOME: cwd, ...env } });
  const out: Record<string, string> = {};
  let section = '';
  for (const line of r.stdout.split('\n')) {
    if (/^[a-z_]+:$/.test(line)) section = line.slice(0, -1);
    const m = /^([A-Za-z_]+)\((.*?)\) = (.*)$/.exec(line);
    if (!m) continue;
    if (section === '' && m[1]!.startsWith('DEFAULT_BECOME')) out[m[1]!] = m[3]!;
    if (section === 'ssh') out[m[1]!] = m[3]!;
  }
  return out;
}

const CONFIG = `[DEFAULT]
base = /opt/keys
[defaults]
remote_user = ops ; the on-call login
# private_key_file = /not/this
private_key_file = keys/%(base)s.pem
host_key_checking = False
timeout = 25
remote_port: 2222
[ssh_connection]
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o ProxyCommand="ssh -W %h:%p -q bastion.example"
ssh_common_args = "-o ServerAliveInterval=30"
host_key_checking = True
timeout = 99
[privilege_escalation]
become = yes
become_user = 'admin'
become_method = sudo
`;

test("ansible.cfg's connection settings are what Ansible's own ansible-config reads from it: raw values, ; comments, [DEFAULT], a relative key beside the file, the later of two sections", { skip: noAnsible || noPython }, () => {
  const { dir, cleanup } = tempDir('runbook-ansible-cfg-');
  try {
    writeFileSync(join(dir, 'ansible.cfg'), CONFIG);
    const ours = loadAnsibleDefaults({ cwd: dir, env: {}, home: dir });
    // connection sharing: nothing runbook needs (it keeps one connection per host), said as for an inventory
    assert.deepEqual(
      ours.diagnostics.map((d) => `${d.severity} ${d.line}: ${d.message.replace(/ is ignored.*/, '')}`),
      ['warning 11: [ssh_connection] ssh_args: `-o ControlMaster=auto`', 'warning 11: [ssh_connection] ssh_args: `-o ControlPersist=60s`'],
    );
    assert.equal(ours.file, join(dir, 'ansible.cfg'));
    const theirs = ansibleSays({}, dir);
    assert.equal(ours.vars.ansible_user, theirs.remote_user);
    assert.equal(ours.vars.ansible_ssh_private_key_file, theirs.private_key_file === undefined ? undefined : join(dir, theirs.private_key_file));
    assert.equal(String(ours.vars.ansible_port), theirs.port);
    assert.equal(String(ours.vars.ansible_host_key_checking), theirs.host_key_checking!.toLowerCase());
    // a run's timeout is the play's ([defaults] timeout): [ssh_connection] timeout never reaches ssh (task_executor.py)
    assert.equal(ours.vars.ansible_timeout, 25);
    assert.equal(ours.vars.ansible_ssh_args, theirs.ssh_args);
    assert.equal(ours.vars.ansible_ssh_common_args, theirs.ssh_common_args);
    assert.equal(ours.vars.ansible_become, theirs.DEFAULT_BECOME === 'True');
    assert.equal(ours.vars.ansible_become_user, theirs.DEFAULT_BECOME_USER);
    // the values themselves, so a silent change on both sides shows too
    assert.deepEqual(ours.vars, {
      ansible_user: 'ops',
      ansible_ssh_private_key_file: join(dir, 'keys/%(base)s.pem'),
      ansible_port: 2222,
      ansible_host_key_checking: true,
      ansible_timeout: 25,
      ansible_ssh_args: '-o ControlMaster=auto -o ControlPersist=60s -o ProxyCommand="ssh -W %h:%p -q bastion.example"',
      // one pair of outer quotes off, as Ansible's ensure_type
      ansible_ssh_common_args: '-o ServerAliveInterval=30',
      ansible_become: true,
      ansible_become_user: 'admin',
      ansible_become_method: 'sudo',
    });
  } finally {
    cleanup();
  }
});

test('ANSIBLE_* variables win over the file, the later of two names wins, as in Ansible', { skip: noAnsible || noPython }, () => {
  const { dir, cleanup } = tempDir('runbook-ansible-cfg-');
  try {
    writeFileSync(join(dir, 'ansible.cfg'), CONFIG);
    const env = { ANSIBLE_REMOTE_USER: 'oncall', ANSIBLE_HOST_KEY_CHECKING: 'true', ANSIBLE_SSH_HOST_KEY_CHECKING: 'no', ANSIBLE_PRIVATE_KEY_FILE: '~/.ssh/oncall' };
    const ours = loadAnsibleDefaults({ cwd: dir, env, home: dir });
    const theirs = ansibleSays(env, dir);
    assert.equal(ours.vars.ansible_user, theirs.remote_user);
    assert.equal(String(ours.vars.ansible_host_key_checking), theirs.host_key_checking!.toLowerCase());
    assert.deepEqual([ours.vars.ansible_user, ours.vars.ansible_host_key_checking, ours.vars.ansible_ssh_private_key_file], ['oncall', false, join(dir, '.ssh/oncall')]);
  } finally {
    cleanup();
  }
});

test('which file: $ANSIBLE_CONFIG (a file or a directory), else ./ansible.cfg unless anyone can write its directory, else ~/.ansible.cfg', () => {
  const { dir, cleanup } = tempDir('runbook-ansible-cfg-');
  try {
    const project = join(dir, 'project');
    const home = join(dir, 'home');
    mkdirSync(project);
    mkdirSync(home);
    writeFileSync(join(home, '.ansible.cfg'), '');
    assert.equal(findAnsibleConfig({ cwd: project, env: {}, home }).file, join(home, '.ansible.cfg'));
    writeFileSync(join(project, 'ansible.cfg'), '');
    assert.equal(findAnsibleConfig({ cwd: project, env: {}, home }).file, join(project, 'ansible.cfg'));
    // a directory without an ansible.cfg: the next place, as Ansible
    assert.equal(findAnsibleConfig({ cwd: project, env: { ANSIBLE_CONFIG: home }, home }).file, join(project, 'ansible.cfg'));
    writeFileSync(join(home, 'ansible.cfg'), '');
    assert.equal(findAnsibleConfig({ cwd: project, env: { ANSIBLE_CONFIG: home }, home }).file, join(home, 'ansible.cfg'));
    assert.equal(findAnsibleConfig({ cwd: project, env: { ANSIBLE_CONFIG: '/dev/null' }, home }).file, '/dev/null');
    // ... which Ansible refuses to read (not .cfg or .ini): so does runbook
    assert.match(loadAnsibleDefaults({ cwd: project, env: { ANSIBLE_CONFIG: '/dev/null' }, home }).diagnostics[0]!.message, /Unsupported configuration file extension for \/dev\/null/);
    chmodSync(project, 0o777);
    const open = findAnsibleConfig({ cwd: project, env: {}, home });
    assert.equal(open.file, join(home, '.ansible.cfg'));
    assert.match(open.diagnostics[0]!.message, /writable by anyone \(Ansible ignores it too\)/);
  } finally {
    cleanup();
  }
});

test('what runbook would not follow is a warning at its line; what cannot be read is an error naming the file', { skip: noPython }, () => {
  const { dir, cleanup } = tempDir('runbook-ansible-cfg-');
  try {
    const cfg = join(dir, 'ansible.cfg');
    writeFileSync(cfg, '[defaults]\nremote_user = ops\n\n[ssh_connection]\npipelining = True\nssh_args = -C -o ForwardAgent=yes\n[privilege_escalation]\nbecome_method = su\n');
    const d = loadAnsibleDefaults({ cwd: dir, env: {}, home: dir }).diagnostics.map((x) => `${x.severity} ${x.file}:${x.line}: ${x.message}`);
    assert.ok(d.some((m) => m.startsWith(`warning ${cfg}:6: [ssh_connection] ssh_args: \`-o ForwardAgent=yes\` is ignored`)), d.join('\n'));
    assert.ok(d.some((m) => m.startsWith(`warning ${cfg}:8: [privilege_escalation] become_method "su" is not supported`)), d.join('\n'));
    const env = loadAnsibleDefaults({ cwd: dir, env: { ANSIBLE_BECOME_METHOD: 'doas' }, home: dir }).diagnostics;
    assert.ok(env.some((x) => x.file === '$ANSIBLE_BECOME_METHOD' && /\$ANSIBLE_BECOME_METHOD "doas" is not supported/.test(x.message)));
    writeFileSync(cfg, '[defaults]\nremote_user = a\nremote_user = b\n');
    assert.match(loadAnsibleDefaults({ cwd: dir, env: {}, home: dir }).diagnostics[0]!.message, /cannot read the Ansible config: .*remote_user.*already exists/);
    writeFileSync(cfg, '[defaults]\nremote_port = twenty-two\n');
    assert.match(loadAnsibleDefaults({ cwd: dir, env: {}, home: dir }).diagnostics[0]!.message, /\[defaults\] remote_port must be a whole number/);
    // whole numbers as Python's int() reads them; never a negative one
    writeFileSync(cfg, '[defaults]\nremote_port = 2_222\ntimeout = +25\n');
    assert.deepEqual(((o) => [o.vars.ansible_port, o.vars.ansible_timeout, o.diagnostics.length])(loadAnsibleDefaults({ cwd: dir, env: {}, home: dir })), [2222, 25, 0]);
    writeFileSync(cfg, '[defaults]\ntimeout = -5\n');
    assert.match(loadAnsibleDefaults({ cwd: dir, env: {}, home: dir }).diagnostics[0]!.message, /\[defaults\] timeout must be a whole number, not "-5"/);
  } finally {
    cleanup();
  }
});

test("the sudo plugin's own user and password win over the general ones; settings runbook does not follow are warned about; python3 runs isolated from the working directory", { skip: noPython }, () => {
  const { dir, cleanup } = tempDir('runbook-ansible-cfg-');
  try {
    const cfg = join(dir, 'conf.cfg');
    writeFileSync(cfg, '[defaults]\ntransport = local\n[privilege_escalation]\nbecome_user = admin\nbecome_ask_pass = True\n[sudo_become_plugin]\nuser = dba\npassword = s3cret\n');
    // a json.py where runbook is run from must not be what python imports
    writeFileSync(join(dir, 'json.py'), 'raise SystemExit("planted module imported")\n');
    const d = loadAnsibleDefaults({ cwd: dir, env: { ANSIBLE_CONFIG: cfg }, home: dir });
    assert.deepEqual([d.vars.ansible_become_user, d.vars.ansible_become_password], ['dba', 's3cret']);
    const warned = d.diagnostics.map((x) => `${x.line}: ${x.message}`);
    assert.ok(warned.some((m) => /^2: \[defaults\] transport is not followed: runbook connects over ssh, not local/.test(m)), warned.join('\n'));
    assert.ok(warned.some((m) => /^5: \[privilege_escalation\] become_ask_pass is not followed: runbook asks for the sudo password with -K/.test(m)), warned.join('\n'));
    assert.ok(!warned.some((m) => m.includes('s3cret')));
    writeFileSync(cfg, '[defaults]\nhash_behaviour = merge\nforce_valid_group_names = always\n');
    const inventoryWarnings = loadAnsibleDefaults({ cwd: dir, env: { ANSIBLE_CONFIG: cfg }, home: dir }).diagnostics.map((x) => `${x.line}: ${x.message}`);
    assert.ok(inventoryWarnings.some((m) => /^2: \[defaults\] hash_behaviour is not followed: runbook does not merge a mapping variable/.test(m)), inventoryWarnings.join('\n'));
    assert.ok(inventoryWarnings.some((m) => /^3: \[defaults\] force_valid_group_names is not followed: runbook keeps group names as written/.test(m)), inventoryWarnings.join('\n'));
    writeFileSync(cfg, '[defaults]\nhash_behaviour = replace\nforce_valid_group_names = never\n');
    assert.deepEqual(loadAnsibleDefaults({ cwd: dir, env: { ANSIBLE_CONFIG: cfg }, home: dir }).diagnostics, []);
    assert.equal(loadAnsibleDefaults({ cwd: dir, env: { ANSIBLE_CONFIG: cfg, ANSIBLE_SUDO_USER: 'ops' }, home: dir }).vars.ansible_become_user, 'ops');
  } finally {
    cleanup();
  }
});

test('a FIFO where ansible.cfg would be is passed over, not read (it would hang)', () => {
  const { dir, cleanup } = tempDir('runbook-ansible-cfg-');
  try {
    spawnSync('mkfifo', [join(dir, 'ansible.cfg')]);
    assert.equal(findAnsibleConfig({ cwd: dir, env: {}, home: dir }).file, undefined);
  } finally {
    cleanup();
  }
});

/** Ansible's inventory sources for `cwd` and `env`: `ansible-config dump`'s DEFAULT_HOST_LIST. */
function ansibleInventory(env: NodeJS.ProcessEnv, cwd: string): string[] {
  const r = spawnSync('ansible-config', ['dump', '--only-changed'], { encoding: 'utf8', cwd, env: { PATH: process.env.PATH, HOME: cwd, ...env } });
  const m = /^DEFAULT_HOST_LIST\(.*?\) = (\[.*\])$/m.exec(r.stdout);
  assert.ok(m, r.stdout + r.stderr);
  return JSON.parse(m[1]!.replaceAll("'", '"')) as string[];
}

test('the inventory ansible.cfg or $ANSIBLE_INVENTORY names is where Ansible looks: a list, beside the file, {{CWD}}, variables and ~', { skip: noAnsible || noPython }, () => {
  const { dir, cleanup } = tempDir('runbook-ansible-cfg-');
  try {
    const project = join(dir, 'project');
    mkdirSync(project);
    const cfg = join(dir, 'shared.cfg');
    writeFileSync(cfg, '[defaults]\nremote_user = ops\ninventory = hosts.ini, ~/inv/prod.yaml ,{{CWD}}/local, $PROJ/x ; the sources\n');
    const env = { ANSIBLE_CONFIG: cfg, PROJ: '/srv/proj' };
    const ours = loadAnsibleDefaults({ cwd: project, env, home: project }).inventory;
    assert.deepEqual(ours?.paths, ansibleInventory(env, project));
    assert.deepEqual(ours, { paths: [join(dir, 'hosts.ini'), join(project, 'inv/prod.yaml'), join(project, 'local'), '/srv/proj/x'], name: '[defaults] inventory', at: { file: cfg, line: 3, col: 1 } });
    // the variable wins, relative to the working directory; set but empty, the file's
    const viaEnv = { ...env, ANSIBLE_INVENTORY: 'inventory/hosts' };
    assert.deepEqual(loadAnsibleDefaults({ cwd: project, env: viaEnv, home: project }).inventory, { paths: ansibleInventory(viaEnv, project), name: '$ANSIBLE_INVENTORY', at: { file: '$ANSIBLE_INVENTORY' } });
    assert.deepEqual(loadAnsibleDefaults({ cwd: project, env: viaEnv, home: project }).inventory?.paths, [join(project, 'inventory/hosts')]);
    assert.equal(loadAnsibleDefaults({ cwd: project, env: { ...env, ANSIBLE_INVENTORY: '' }, home: project }).inventory?.name, '[defaults] inventory');
    // no config and no variable: nothing (Ansible's /etc/ansible/hosts is not taken)
    assert.equal(loadAnsibleDefaults({ cwd: project, env: {}, home: project }).inventory, undefined);
  } finally {
    cleanup();
  }
});
