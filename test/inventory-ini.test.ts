/**
 * INI inventories, read through the installed ansible-core's own INI parser, against Ansible
 * itself: for several inventories (Kubespray's layout with its `[all]` section, a group defined
 * before its parent, ranges, `:vars`, hosts in several groups), the hosts runbook selects for many
 * patterns, in order, are those `ansible PATTERN --list-hosts` lists, and every host's variables
 * are those `ansible-inventory --host` prints. And what Ansible would do beyond the INI parser is not
 * done: no group_vars/ or host_vars/ read (no vault decrypted), no executable inventory run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInventoryFile, selectHosts } from '../src/inventory/load.js';
import { loadIniInventory } from '../src/inventory/ini-inventory.js';
import { findOnPath, shebangCommand } from '../src/inventory/ansible-ini.js';
import { ansibleBoolean } from '../src/inventory/ansible-values.js';
import { formatDiagnostic, type Diagnostic } from '../src/errors.js';
import type { Inventory } from '../src/inventory/types.js';
import { ansibleEnv, ansibleListHosts, askAnsible, runAnsible } from './support/ansible-oracle.js';

const haveAnsible = spawnSync('sh', ['-c', 'command -v ansible && command -v ansible-inventory && command -v ansible-vault']).status === 0;
const skip = haveAnsible ? false : 'ansible (ansible-core) is not installed';

// Kubespray's inventory/sample/inventory.ini layout: every host with its address in [all], then the
// role groups naming them, k8s_cluster made of children; listed out of name order, so that a sort
// anywhere would show
const KUBESPRAY = `# ## Configure 'ip' variable to bind kubernetes services on a different ip than the default iface
[all]
node3 ansible_host=95.54.0.14 ip=10.3.0.3 etcd_member_name=etcd3
node1 ansible_host=95.54.0.12 ip=10.3.0.1 etcd_member_name=etcd1
node2 ansible_host=95.54.0.13 ip=10.3.0.2 etcd_member_name=etcd2
node6 ansible_host=95.54.0.17 ip=10.3.0.6
node4 ansible_host=95.54.0.15 ip=10.3.0.4
node5:2222 ansible_host=95.54.0.16 ip=10.3.0.5
bastion ansible_host=203.0.113.5 ansible_user=some_user

[kube_control_plane]
node2
node1
node3

[etcd]
node1
node3
node2

[kube_node]
node6
node4
node5
node2

[calico_rr]

[k8s_cluster:children]
kube_control_plane
kube_node
calico_rr

[k8s_cluster:vars]
ansible_become=yes
kube_version=v1.28.6
`;

// a group defined before its parent and a child named before it is defined, ranges, hosts before
// any section (ungrouped), hosts in several groups, :vars at every level with
// ansible_group_priority changing which group wins, quoting, typed values
const NESTED = `bastion ansible_host=10.0.0.1 ansible_user=jump
lonely:2201

[db]
db[01:03]
w-b

[web]
web[01:03] ansible_user=deploy
db02

[workers]
w-c
w-[a:b]
w-x ansible_port=2222 plain='host own' count=3

[prod:children]
web
db
cache

[cache]
cache1 ansible_host=10.0.0.9

[prod:vars]
ansible_user=ops
plain=from-prod
num=8080
flag=yes

[web:vars]
plain=from-web

[db:vars]
plain=from-db
ansible_group_priority=10

[platform:children]
prod
workers

[platform:vars]
ansible_become=true

[all:vars]
ansible_ssh_common_args='-o ConnectTimeout=5'
shared=all
plain=from-all
`;

// hosts met in groups before the [all] section names them again, and [all:children]: Ansible's
// `all` (its group's own hosts, then its children's) is not the order it met the hosts in, which
// globs and regexes use
const ALL_LATE = `[b]
h2
h1

[a]
h3
h1

[all]
h4
h2

[top:children]
a
b

[all:children]
top
`;

const CASES: { name: string; text: string; patterns: [string, string?][] }[] = [
  {
    name: 'kubespray',
    text: KUBESPRAY,
    patterns: [
      ['all'], ['*'], ['all[0]'], ['all[-1]'], ['all[1:3]'], ['kube_node[1:2]'], ['etcd:&kube_control_plane'], ['kube_control_plane:&etcd'],
      ['all:!etcd'], ['node*'], ['~node[12]'], ['k8s_cluster'], ['k8s_cluster[0]'], ['k8s_cluster[-1]'], ['etcd[0]'], ['kube_node:!kube_control_plane'],
      ['ungrouped'], ['bastion'], ['etcd,kube_node'], ['kube_node:etcd'], ['node?'], ['!etcd'], ['&kube_node'], ['all', 'etcd'], ['k8s_cluster', '~node[3-5]'], ['kube_node[0:1]', 'etcd'],
    ],
  },
  {
    name: 'nested',
    text: NESTED,
    patterns: [
      ['all'], ['all[0]'], ['all[-1]'], ['all[2:4]'], ['platform'], ['platform[0]'], ['prod'], ['prod[-1]'], ['prod:!db'], ['db:&web'], ['web:db'], ['db,web'],
      ['w-*'], ['~w-[ab]'], ['~(db|web)0[12]'], ['ungrouped'], ['lonely'], ['w-?'], ['workers[1:]'], ['!workers'], ['&db'], ['db[1:]'], ['cache*'], ['*[0]'],
      ['all', 'prod'], ['platform', 'db02:w-b'],
    ],
  },
  {
    name: 'all-late',
    text: ALL_LATE,
    patterns: [['all'], ['h*'], ['~h[13]'], ['all[0]'], ['all[-1]'], ['top'], ['top[0]'], ['a:b'], ['b:a'], ['a:&b'], ['!a'], ['ungrouped'], ['all', 'b']],
  },
];

/** Ansible's variables with its boolean strings for the two connection booleans made booleans, as runbook takes them. */
function asRunbookTakesThem(vars: Record<string, unknown>): Record<string, unknown> {
  const out = { ...vars };
  for (const k of ['ansible_become', 'ansible_host_key_checking']) if (k in out) out[k] = ansibleBoolean(out[k]);
  return out;
}

async function loaded(file: string): Promise<Inventory> {
  const r = await loadInventoryFile(file);
  assert.ok(r.inventory, r.diagnostics.map(formatDiagnostic).join('\n'));
  assert.deepEqual(r.diagnostics, []);
  return r.inventory;
}

/** Writes `text` to `file` and loads it: the diagnostics of its refusal. */
async function refused(file: string, text: string): Promise<Diagnostic[]> {
  writeFileSync(file, text);
  const r = await loadInventoryFile(file);
  assert.equal(r.inventory, undefined, `${file} was not refused`);
  return r.diagnostics;
}

/** `body` with `vars` set in this process's environment, restored after it. */
async function withEnv<T>(vars: Record<string, string>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await body();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** `body` with a new temporary directory, removed after it. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-ini-'));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('INI inventories select the same hosts in the same order as Ansible for every pattern, with the variables Ansible gives each host', { skip, timeout: 300_000 }, () =>
  inTempDir(async (dir) => {
    const env = ansibleEnv(dir);
    const byCase = new Map<string, Map<string, string[]>>();
    for (const c of CASES) {
      const file = join(dir, c.name); // no extension, like Ansible's own `hosts`
      writeFileSync(file, c.text);
      const inventory = await loaded(file);
      const theirs = await askAnsible(file, c.patterns, env);
      const ours = c.patterns.map(([p, l]) => selectHosts(inventory, p, l).map((h) => h.name));
      const differ = c.patterns.map((p, i) => ({ pattern: p.join(' -l '), ours: ours[i], theirs: theirs.patterns[i] })).filter((d) => JSON.stringify(d.ours) !== JSON.stringify(d.theirs));
      assert.deepEqual(differ, [], `${c.name}: patterns where runbook and Ansible disagree`);
      byCase.set(c.name, new Map(c.patterns.map((p, i) => [p.join(' -l '), ours[i]!])));
      // each host: the variables Ansible merges for it, typed as Ansible types them
      assert.deepEqual([...inventory.hosts.keys()].sort(), Object.keys(theirs.hostvars).sort(), c.name);
      for (const [h, vars] of Object.entries(theirs.hostvars)) assert.deepEqual(inventory.hosts.get(h)!.vars, asRunbookTakesThem(vars), `${c.name}: ${h}`);
    }
    // not vacuous: Ansible's order is not the names' order, and `all` is not the order hosts were met in
    const k = byCase.get('kubespray')!;
    assert.deepEqual(k.get('all'), ['node3', 'node1', 'node2', 'node6', 'node4', 'node5', 'bastion']);
    assert.deepEqual(k.get('k8s_cluster[-1]'), ['node5']);
    assert.deepEqual(k.get('ungrouped'), ['bastion']);
    assert.deepEqual(byCase.get('all-late')!.get('all'), ['h4', 'h2', 'h3', 'h1']);
    assert.deepEqual(byCase.get('all-late')!.get('h*'), ['h2', 'h1', 'h3', 'h4']);
    // the helper is Ansible's CLI: a few patterns and a host's variables straight from the commands
    const file = (n: string) => join(dir, n);
    assert.deepEqual(await ansibleListHosts(file('all-late'), 'all', env), byCase.get('all-late')!.get('all'));
    assert.deepEqual(await ansibleListHosts(file('kubespray'), 'k8s_cluster[-1]', env), k.get('k8s_cluster[-1]'));
    assert.deepEqual(await ansibleListHosts(file('nested'), 'platform', env, 'db02:w-b'), byCase.get('nested')!.get('platform -l db02:w-b'));
    const host = await runAnsible('ansible-inventory', ['-i', file('nested'), '--host', 'db02'], env);
    const inventory = await loaded(file('nested'));
    assert.deepEqual(inventory.hosts.get('db02')!.vars, asRunbookTakesThem(JSON.parse(host.stdout) as Record<string, unknown>));
  }));

test("an INI inventory's values keep Ansible's types, group variables stay the group's, and connection settings are read as Ansible reads them", { skip }, () =>
  inTempDir(async (dir) => {
    const file = join(dir, 'hosts.ini');
    writeFileSync(file, NESTED);
    const inv = await loaded(file);
    const h = (n: string) => inv.hosts.get(n)!;
    // `2222` a number, `yes` text (Ansible's literal_eval), a port from `host:port`
    assert.deepEqual([h('w-x').port, h('w-x').vars.count, h('w-x').vars.plain, h('db01').vars.flag, h('db01').vars.num, h('lonely').port], [2222, 3, 'host own', 'yes', 8080, 2201]);
    // `ansible_become=true` (text to Ansible's parser) is a become, as Ansible's boolean() reads it
    assert.deepEqual([h('w-a').become, h('bastion').become], [true, false]);
    // precedence: deeper groups win, ansible_group_priority over the name, the host's own over all
    assert.deepEqual([h('db02').vars.plain, h('web01').vars.plain, h('w-b').vars.plain, h('bastion').vars.plain], ['from-db', 'from-web', 'from-db', 'from-all']);
    assert.deepEqual([h('web01').user, h('db01').user, h('bastion').user, h('bastion').address], ['deploy', 'ops', 'jump', '10.0.0.1']);
    assert.deepEqual(h('db02').groups, ['all', 'platform', 'prod', 'web', 'db']);
  }));

test('what runbook refuses or warns about in an INI inventory names the file and the host or group, once per place; a group variable is checked as one; Ansible\'s warnings are passed on', { skip }, () =>
  inTempDir(async (dir) => {
    const file = join(dir, 'hosts.ini');
    // a Windows group: its connection is warned about, once, and does not refuse the file
    writeFileSync(file, '[linux]\nl1\n[windows]\nw1\nw2\n[windows:vars]\nansible_connection=winrm\nansible_ssh_common_args=-C\n[w1]\nw2\n');
    const ok = await loadInventoryFile(file);
    assert.ok(ok.inventory, ok.diagnostics.map(formatDiagnostic).join('\n'));
    assert.deepEqual(
      ok.diagnostics.map(formatDiagnostic),
      [
        `${file}: warning: group \`windows\`: ansible_connection "winrm" is not supported: runbook connects over ssh or local (no line number: Ansible's INI parser gives none)`,
        `${file}: warning: group \`windows\`: ansible_ssh_common_args: \`-C\` is ignored: compression is not supported by runbook's SSH client (no line number: Ansible's INI parser gives none)`,
        // and Ansible's own warnings
        `${file}: warning: Ansible's INI parser: Found both group and host with same name: w1`,
      ],
    );
    // a host's own values are checked as a host's; a boolean Ansible refuses; a value JSON cannot carry
    const text = (await refused(file, '[g]\nh1 ansible_port=abc\nh2 odd={1,2}\n[g:vars]\nansible_become=maybe\n')).map(formatDiagnostic);
    assert.deepEqual(text, [
      `${file}: group \`g\`: ansible_become is "maybe", which Ansible does not take as a boolean (true/false, yes/no, on/off, y/n, 1/0) (no line number: Ansible's INI parser gives none)`,
      `${file}: host \`h1\`: ansible_port: expected a whole number, found the text "abc" (no line number: Ansible's INI parser gives none)`,
      `${file}: host \`h2\`: odd is a Python set ({1, 2}), which runbook cannot take (ansible-inventory --list cannot print it either) (no line number: Ansible's INI parser gives none) (quote the value to keep it as text)`,
    ]);
  }));

test("Ansible's INI parser's refusal is an error at the file and line in Ansible's words; without ansible-core (or one runbook cannot load), an error saying what to install", { skip }, () =>
  inTempDir(async (dir) => {
    const file = join(dir, 'inventory');
    const diagnostics = await refused(file, '[k8s]\nnode1\n\n[k8s:nonsense]\nx\n');
    assert.deepEqual(diagnostics.map(formatDiagnostic), [`${file}:4: Ansible's INI parser (ansible-core ${/ansible-core ([\d.]+)/.exec(diagnostics[0]!.message)?.[1]}): Section [k8s:nonsense] has unknown type: nonsense`]);
    const noAnsible = await loadIniInventory(file, { ...process.env, PATH: dir });
    assert.match(noAnsible.diagnostics[0]!.message, /ansible-inventory \(ansible-core\) is not installed/);
    assert.match(noAnsible.diagnostics[0]!.hint ?? '', /apt-get install ansible-core/);
    // an ansible-inventory whose Python cannot import Ansible (-S: no site-packages): said so, no traceback
    const real = shebangCommand(readFileSync(findOnPath('ansible-inventory')!, 'utf8').split('\n')[0]);
    assert.ok('argv' in real, JSON.stringify(real));
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'ansible-inventory'), `#!${real.argv[0]} -S\n`, { mode: 0o755 });
    const broken = await loadIniInventory(file, { ...process.env, PATH: bin });
    assert.match(broken.diagnostics[0]!.message, /cannot load Ansible's INI parser as runbook calls it: ModuleNotFoundError: No module named 'ansible'/);
    assert.doesNotMatch(broken.diagnostics[0]!.message, /Traceback/);
  }));

test('group_vars/ and host_vars/ next to an INI inventory are not read, and a vault value there is decrypted nowhere (Ansible itself would read them)', { skip, timeout: 120_000 }, () =>
  inTempDir(async (dir) => {
    const env = ansibleEnv(dir);
    writeFileSync(join(dir, 'vault-pass'), 'correct horse\n');
    // a project config that turns on everything that would read them early (at parse time, too)
    writeFileSync(join(dir, 'ansible.cfg'), '[defaults]\nvault_password_file = vault-pass\nvars_plugins_enabled = host_group_vars\nrun_vars_plugins = start\n');
    const enc = await runAnsible('ansible-vault', ['encrypt_string', '--vault-password-file', join(dir, 'vault-pass'), 'PLAINTEXT-SECRET-4711', '--name', 'db_password'], env);
    assert.equal(enc.code, 0, enc.stderr);
    mkdirSync(join(dir, 'group_vars'));
    mkdirSync(join(dir, 'host_vars'));
    writeFileSync(join(dir, 'group_vars', 'all.yml'), `${enc.stdout}\nfrom_group_vars: true\n`);
    writeFileSync(join(dir, 'host_vars', 'h1.yml'), 'ansible_user: from-host-vars\n');
    writeFileSync(join(dir, 'hosts'), '[g]\nh1 ansible_host=192.0.2.1\n');
    // Ansible, run where its ansible.cfg is, reads them and decrypts the value
    const there = { ...env, ANSIBLE_CONFIG: join(dir, 'ansible.cfg') };
    const control = await runAnsible('ansible', ['h1', '-i', 'hosts', '-m', 'debug', '-a', 'msg="{{ db_password }} {{ ansible_user }}"'], there, dir);
    assert.match(control.stdout, /PLAINTEXT-SECRET-4711 from-host-vars/, control.stderr);
    // runbook, from that directory, with that config in the environment too
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const r = await withEnv({ ANSIBLE_CONFIG: join(dir, 'ansible.cfg'), ANSIBLE_VARS_ENABLED: 'host_group_vars', ANSIBLE_VAULT_PASSWORD_FILE: join(dir, 'vault-pass') }, () => loadInventoryFile('hosts'));
      assert.ok(r.inventory, r.diagnostics.map(formatDiagnostic).join('\n'));
      assert.deepEqual(r.inventory.hosts.get('h1')!.vars, { ansible_host: '192.0.2.1' });
      assert.equal(r.inventory.hosts.get('h1')!.user, undefined);
      assert.doesNotMatch(JSON.stringify({ ...r, hosts: [...r.inventory.hosts.values()] }), /PLAINTEXT-SECRET|from_group_vars|from-host-vars/);
      // not silently: one warning for each directory
      assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'warning').map((d) => d.file), ['group_vars', 'host_vars']);
    } finally {
      process.chdir(cwd);
    }
  }));

test('an executable inventory file is not run (Ansible would run it as a script): it is read as INI, and refused', { skip, timeout: 120_000 }, () =>
  inTempDir(async (dir) => {
    const marker = join(dir, 'ran');
    const script = join(dir, 'inventory.sh');
    writeFileSync(script, '');
    chmodSync(script, 0o755);
    // even with the script plugin asked for
    const diagnostics = await withEnv({ ANSIBLE_INVENTORY_ENABLED: 'script,ini' }, () => refused(script, `#!/bin/sh\ntouch ${marker}\necho '{"all": {"hosts": ["from-script"]}}'\n`));
    assert.match(diagnostics[0]!.message, /Ansible's INI parser .*Expected key=value host variable assignment/);
    assert.equal(existsSync(marker), false, 'runbook ran the inventory file');
    // not vacuous: Ansible itself runs it
    await runAnsible('ansible-inventory', ['-i', script, '--list'], ansibleEnv(dir));
    assert.equal(existsSync(marker), true, 'ansible-inventory did not run the script either');
  }));

test("a .yaml inventory is runbook's own to read (a YAML error at its line and column, Ansible not asked); so is a YAML mapping without extension", () =>
  inTempDir(async (dir) => {
    const yaml = join(dir, 'inventory.yaml');
    const [d] = await refused(yaml, 'all:\n  hosts:\n    a: {ansible_port: 22\n');
    assert.equal(d!.kind, 'yaml');
    assert.equal(d!.file, yaml);
    assert.ok(d!.line! >= 3 && d!.col! >= 1, formatDiagnostic(d!));
    const bare = join(dir, 'hosts');
    writeFileSync(bare, 'all:\n  hosts:\n    a: { ansible_port: 2200 }\n');
    assert.equal((await loadInventoryFile(bare)).inventory?.hosts.get('a')?.port, 2200);
  }));

test('a YAML-looking file without extension that is broken: the INI error says where YAML failed too', { skip }, () =>
  inTempDir(async (dir) => {
    const bare = join(dir, 'hosts');
    const [d] = await refused(bare, 'all:\n  hosts:\n    a: {ansible_port: 22\n');
    assert.match(d!.hint ?? '', /read as YAML \(as Ansible tries first for a file without extension\), it fails at line \d+/);
  }));

test("the Python of ansible-inventory is read from its #! line, through env too", () => {
  const env = { PATH: '/usr/bin:/bin' };
  assert.deepEqual(shebangCommand('#! /usr/bin/python3', env), { argv: ['/usr/bin/python3'] });
  assert.deepEqual(shebangCommand('#!/opt/venv/bin/python3.11 -E', env), { argv: ['/opt/venv/bin/python3.11', '-E'] });
  const viaEnv = shebangCommand('#!/usr/bin/env -S python3 -s', env);
  assert.ok('argv' in viaEnv && /\/python3$/.test(viaEnv.argv[0]!) && viaEnv.argv[1] === '-s', JSON.stringify(viaEnv));
  assert.match(JSON.stringify(shebangCommand('#!/bin/bash', env)), /not Python/);
  assert.match(JSON.stringify(shebangCommand('#!/usr/bin/env no-such-python3', env)), /not on PATH/);
  assert.match(JSON.stringify(shebangCommand('\x7fELF', env)), /no #! line/);
});
