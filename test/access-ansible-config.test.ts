/**
 * An Ansible project's ansible.cfg, as Ansible uses it, against real OpenSSH servers: the login,
 * key, known_hosts and ssh arguments it names reach hosts whose inventory says nothing of them,
 * through the real `runbook` command run in the project directory; the inventory's own values win;
 * a rollback from elsewhere connects as the run did. And the project's INI inventory, read through
 * Ansible's own parser: its order and group variables reach the run, the group_vars/ and host_vars/
 * beside it (a vault value among them) do not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabHost } from '../src/lab/hosts.js';
import { lab, useLab, dir as work } from './support/lab.js';
import { ansibleEnv, runAnsible } from './support/ansible-oracle.js';

const skip = useLab({
  start: { count: 2, firstAddress: '127.1.207.1', namePrefix: 'ac' },
  tmp: 'access-ansible-config-',
});

const RB = `apiVersion: runbook/v1
name: as ansible.cfg says
hosts: all
steps:
  - name: a file written as the configured login
    copy: { dest: /tmp/from-ansible-cfg, content: "{{ host.name }}\\n", mode: "0644" }
`;

/** `runbook ARGS` in `cwd`, with the environment's ANSIBLE_* replaced by `env`. */
function runbook(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ANSIBLE_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [join(process.cwd(), 'dist/src/cli/main.js'), ...args], { cwd, env: { ...base, ...env, NO_COLOR: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

test('ansible.cfg in the project directory: remote_user, private_key_file and ssh_common_args reach the hosts; an inventory ansible_user wins over it', { skip }, async () => {
  const [h1, h2] = lab.hosts as [LabHost, LabHost];
  const project = join(work, 'project');
  mkdirSync(project, { recursive: true });
  writeFileSync(
    join(project, 'ansible.cfg'),
    ['[defaults]', 'remote_user = root ; the lab login', `private_key_file = ${lab.privateKeyPath}`, 'host_key_checking = True', '', '[ssh_connection]', `ssh_common_args = -o UserKnownHostsFile=${lab.knownHostsPath} -o ConnectTimeout=5`, ''].join('\n'),
  );
  // nothing about how to log in: the hosts and their addresses only
  writeFileSync(join(project, 'hosts.yaml'), `all:\n  hosts:\n    ${h1.name}: { ansible_host: ${h1.address} }\n    ${h2.name}: { ansible_host: ${h2.address} }\n`);
  writeFileSync(join(project, 'rb.yaml'), RB);
  const r = await runbook(['apply', 'rb.yaml', '-i', 'hosts.yaml', '--state-dir', join(work, 'state')], project);
  assert.equal(r.code, 0, r.out);
  for (const h of [h1, h2]) assert.equal(readFileSync(lab.hostPath(h, '/tmp/from-ansible-cfg'), 'utf8'), `${h.name}\n`);
  // the rollback, from a directory with no ansible.cfg, connects as the run did (the journal keeps the settings)
  const id = /\brun (\d{8}T\d{6}Z-[0-9a-f]+)/.exec(r.out)?.[1];
  assert.ok(id, r.out);
  const back = await runbook(['rollback', id, '--state-dir', join(work, 'state')], work);
  assert.equal(back.code, 0, back.out);
  for (const h of [h1, h2]) assert.equal(existsSync(lab.hostPath(h, '/tmp/from-ansible-cfg')), false, `${h.name}: the file the run made is gone`);

  // the config names a user the hosts do not have: the host whose inventory names root still gets in
  writeFileSync(join(project, 'hosts.yaml'), `all:\n  hosts:\n    ${h1.name}: { ansible_host: ${h1.address}, ansible_user: root }\n    ${h2.name}: { ansible_host: ${h2.address} }\n`);
  const wrong = await runbook(['connect', '-i', 'hosts.yaml'], project, { ANSIBLE_REMOTE_USER: 'nosuchuser' });
  assert.notEqual(wrong.code, 0, wrong.out);
  assert.match(wrong.out, new RegExp(`${h2.name}[^\\n]*nosuchuser`));
  assert.doesNotMatch(wrong.out, new RegExp(`${h1.name}[^\\n]*nosuchuser`));
  // ANSIBLE_CONFIG pointing elsewhere: this project's file is not read (no login, no key: refused)
  writeFileSync(join(work, 'empty.cfg'), '');
  const elsewhere = await runbook(['connect', '-i', 'hosts.yaml'], project, { ANSIBLE_CONFIG: join(work, 'empty.cfg') });
  assert.notEqual(elsewhere.code, 0, elsewhere.out);
  assert.match(elsewhere.out, new RegExp(`${h2.name}[^\\n]*(host key|authenticate)`));
});

test("no -i: the inventory ansible.cfg's [defaults] inventory names, as ansible-playbook takes it; one it cannot use is said at its line", { skip }, async () => {
  const [h1, h2] = lab.hosts as [LabHost, LabHost];
  const project = join(work, 'project-inventory');
  mkdirSync(join(project, 'inventory'), { recursive: true });
  const config = (inventory: string) =>
    writeFileSync(join(project, 'ansible.cfg'), ['[defaults]', 'remote_user = root', `private_key_file = ${lab.privateKeyPath}`, `inventory = ${inventory}`, '[ssh_connection]', `ssh_common_args = -o UserKnownHostsFile=${lab.knownHostsPath}`, ''].join('\n'));
  config('inventory/hosts.yaml');
  writeFileSync(join(project, 'inventory', 'hosts.yaml'), `all:\n  hosts:\n    ${h1.name}: { ansible_host: ${h1.address} }\n    ${h2.name}: { ansible_host: ${h2.address} }\n`);
  writeFileSync(join(project, 'rb.yaml'), RB.replace('/tmp/from-ansible-cfg', '/tmp/from-configured-inventory'));
  const r = await runbook(['apply', 'rb.yaml', '--state-dir', join(work, 'state-inv')], project);
  assert.equal(r.code, 0, r.out);
  for (const h of [h1, h2]) assert.equal(readFileSync(lab.hostPath(h, '/tmp/from-configured-inventory'), 'utf8'), `${h.name}\n`);
  // the journal names the inventory the run used
  const id = /\brun (\d{8}T\d{6}Z-[0-9a-f]+)/.exec(r.out)?.[1];
  const shown = await runbook(['show', id!, '--state-dir', join(work, 'state-inv')], work);
  assert.match(shown.out, new RegExp(`inventory ${join(project, 'inventory', 'hosts.yaml').replaceAll('/', '\\/')}`), shown.out);

  config('inventory/hosts.yaml, inventory/more.yaml');
  const two = await runbook(['plan', 'rb.yaml'], project);
  assert.equal(two.code, 3, two.out);
  assert.match(two.out, /ansible\.cfg:4:1: \[defaults\] inventory names 2 inventory sources .*runbook reads one inventory file: give it with -i/);
  config('inventory/nosuch.yaml');
  const missing = await runbook(['plan', 'rb.yaml'], project);
  assert.equal(missing.code, 3, missing.out);
  assert.match(missing.out, /ansible\.cfg:4:1: \[defaults\] inventory names the inventory \S*inventory\/nosuch\.yaml, which does not exist/);
  config('inventory');
  const dir = await runbook(['plan', 'rb.yaml'], project);
  assert.match(dir.out, /ansible\.cfg:4:1: \[defaults\] inventory names the directory \S*inventory; runbook reads one inventory file: give it with -i/);
  // -i wins over the configured one
  const given = await runbook(['plan', 'rb.yaml', '-i', 'inventory/hosts.yaml'], project);
  assert.equal(given.code, 0, given.out);
});

const noAnsible = spawnSync('sh', ['-c', 'command -v ansible-inventory && command -v ansible-vault']).status === 0 ? false : 'ansible-core is not installed';

test("the project's INI inventory (Kubespray's [all] layout): Ansible's order picks the host and its group vars reach the run, typed; group_vars/ and host_vars/ beside it are not read, and their vault value is nowhere in the output or the journal", { skip: skip || noAnsible }, async () => {
  const [h1, h2] = lab.hosts as [LabHost, LabHost];
  const project = join(work, 'ini-project');
  mkdirSync(join(project, 'group_vars'), { recursive: true });
  mkdirSync(join(project, 'host_vars'));
  writeFileSync(join(project, 'vault-pass'), 'correct horse\n');
  writeFileSync(
    join(project, 'ansible.cfg'),
    ['[defaults]', 'remote_user = root', `private_key_file = ${lab.privateKeyPath}`, 'vault_password_file = vault-pass', '', '[ssh_connection]', `ssh_common_args = -o UserKnownHostsFile=${lab.knownHostsPath}`, ''].join('\n'),
  );
  const vault = await runAnsible('ansible-vault', ['encrypt_string', '--vault-password-file', join(project, 'vault-pass'), 'VAULTED-7c1f9e', '--name', 'db_password'], ansibleEnv(work));
  assert.equal(vault.code, 0, vault.stderr);
  writeFileSync(join(project, 'group_vars', 'all.yml'), vault.stdout);
  // read, it would send the second host's login to a user that does not exist
  writeFileSync(join(project, 'host_vars', `${h2.name}.yml`), 'ansible_user: nosuchuser\n');
  // the hosts in [all] with their addresses, then a group listing the second one first
  const at = (h: LabHost) => `${h.name} ansible_host=${h.address} ansible_port=${h.port}`;
  writeFileSync(join(project, 'hosts'), `[all]\n${at(h1)}\n${at(h2)}\n\n[k8s]\n${h2.name}\n${h1.name}\n\n[k8s:vars]\ngreeting=hello-ini\nn=41\n`);
  writeFileSync(
    join(project, 'first.yaml'),
    'apiVersion: runbook/v1\nname: the first of k8s\nhosts: k8s[0]\nsteps:\n  - name: a file from the group vars\n    copy: { dest: /tmp/from-ini, content: "{{ greeting }} {{ n + 1 }} {{ host.name }}\\n", mode: "0644" }\n',
  );
  const state = join(work, 'ini-state');
  const r = await runbook(['apply', 'first.yaml', '-i', 'hosts', '--state-dir', state], project);
  assert.equal(r.code, 0, r.out);
  assert.equal(readFileSync(lab.hostPath(h2, '/tmp/from-ini'), 'utf8'), `hello-ini 42 ${h2.name}\n`);
  assert.equal(existsSync(lab.hostPath(h1, '/tmp/from-ini')), false, 'k8s[0] is the first host [k8s] lists');
  // neither the vaulted value nor the host_vars user anywhere: output, journal, state
  const files = readdirSync(state, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  assert.ok(files.length > 0);
  for (const text of [r.out, ...files.map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'))]) assert.doesNotMatch(text, /VAULTED-7c1f9e|nosuchuser|ANSIBLE_VAULT/);
});
