/**
 * The flagship runbook as production clusters that forbid root SSH need it: runbooks/cert-renew.yaml
 * on simulated kubeadm nodes reached as `ops` (sudo asks for a password, given in the inventory)
 * and as `ops2` (NOPASSWD), with the inventory's ansible_ssh_common_args naming the known_hosts
 * file and nothing on the command line but -i. Renews, verifies, applies again with changed=0,
 * and `runbook rollback` puts every file back byte-identical, owners and modes included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, LabHost } from '../src/lab/hosts.js';
import { addLabUsers, LAB_SUDO_PASSWORD } from '../src/lab/users.js';
import { installSimHost, FAST_SIM, type SimHost } from '../src/lab/sim-host.js';
import { packageRoot } from '../src/lab/sim/paths.js';
import { walkTree } from '../src/lab/tree-snapshot.js';
import { waitFor } from '../src/lab/wait.js';
import { dir, lab, runCli, stopAgents, useLab } from './support/lab.js';

const RENEW = join(packageRoot, 'runbooks/cert-renew.yaml');

const sims: SimHost[] = [];

const cli = (args: string[], state: string) => runCli(args, state, 240_000);

/** every entry under the node's trees with owner, group, mode and content hash */
function snapshot(h: LabHost): Map<string, string> {
  const out = new Map<string, string>();
  for (const root of ['/etc/kubernetes', '/var/lib/kubelet/pki', '/root/.kube/config']) {
    walkTree(lab.hostPath(h, root), root, (rel, desc) => {
      const st = lstatSync(lab.hostPath(h, rel));
      out.set(rel, `${desc} ${st.uid}:${st.gid}`);
    });
  }
  return out;
}

/** no runbook_known_hosts and no --known-hosts: the inventory's ssh arguments name the file */
function inventory(l: Lab): string {
  const [h1, h2] = l.hosts as [LabHost, LabHost];
  return [
    'all:',
    '  vars:',
    `    ansible_ssh_private_key_file: ${l.privateKeyPath}`,
    `    ansible_ssh_common_args: "-o UserKnownHostsFile=${l.knownHostsPath} -o StrictHostKeyChecking=yes"`,
    '    ansible_become: true',
    '  children:',
    '    control_plane:',
    '      hosts:',
    `        ${h1.name}: { ansible_host: ${h1.address}, ansible_user: ops, ansible_become_password: ${LAB_SUDO_PASSWORD} }`,
    `        ${h2.name}: { ansible_host: ${h2.address}, ansible_user: ops2 }`,
    '',
  ].join('\n');
}

const skip = useLab({
  start: { count: 2, firstAddress: '127.1.204.1', namePrefix: 'acr' },
  tmp: 'access-cert-renew-',
  requires: ['sudo', 'nsenter', 'openssl'],
  inventory,
  setup: async () => {
    for (const h of lab.hosts) addLabUsers(lab, h);
    for (const h of lab.hosts) sims.push(await installSimHost(lab, h, 'expiring-10d-1.28', FAST_SIM));
  },
  teardown: () => stopAgents(sims),
});

test('cert-renew as ops (password sudo) and ops2 (NOPASSWD): renews, idempotent, rolls back byte-identical with owners and modes', { skip, timeout: 600_000, concurrency: true }, async (t) => {
  for (const [i, user] of ['ops', 'ops2'].entries()) {
    const h = lab.hosts[i]!;
    const sim = sims[i]!;
    await t.test(`${user} on ${h.name}`, async () => {
      await waitFor(`${h.name}'s agent to report`, () => sim.status()?.pods.length === 4, 60_000, 300);
      const before = snapshot(h);
      const state = `s-${user}`;
      // ops also fetches the new admin.conf, with -e fetch_admin_conf=true as docs/cert-renew.md gives it (text, read as the boolean it is declared as)
      const fetchConf = user === 'ops' ? ['-e', 'fetch_admin_conf=true'] : [];
      const a = await cli(['apply', RENEW, '-l', h.name, '-e', 'manifest_check_period=1s', ...fetchConf, '--json'], state);
      assert.equal(a.code, 0, a.out);
      if (fetchConf.length) {
        // runbook runs in dir: local_kubeconfig is ./kubeconfig-<host>.conf
        const local = join(dir, `kubeconfig-${h.name}.conf`);
        assert.equal(readFileSync(local, 'utf8'), readFileSync(lab.hostPath(h, '/etc/kubernetes/admin.conf'), 'utf8'));
        assert.equal(lstatSync(local).mode & 0o777, 0o600);
      }
      const events = a.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { kind: string; runId?: string; recap?: { changed: number }[] });
      const runId = events.find((e) => e.kind === 'run-start')!.runId!;
      assert.ok((events.find((e) => e.kind === 'run-end')?.recap ?? []).reduce((n, r) => n + r.changed, 0) > 0, 'the first apply changed the node');
      assert.notDeepEqual(snapshot(h), before, 'the certificates were renewed');
      // written as root through sudo, as the step asked: nothing belongs to the login user
      for (const [p, desc] of snapshot(h)) assert.match(desc, / 0:0$/, `${p} is not owned by root: ${desc}`);
      await waitFor(`${h.name}'s API server to serve the renewed certificate`, () => sim.status()?.apiserver.servingSerial !== undefined, 60_000, 300);

      const again = await cli(['apply', RENEW, '-l', h.name, '-e', 'manifest_check_period=1s'], state);
      assert.equal(again.code, 0, again.out);
      assert.match(again.out, /1 hosts?: ok=\d+ changed=0 failed=0/, again.out);

      const rb = await cli(['rollback', runId, '-l', h.name], state);
      assert.equal(rb.code, 0, rb.out);
      assert.deepEqual(snapshot(h), before, `${h.name} is not byte-identical (owners and modes included) after the rollback`);
      // the password is nowhere: output, journal
      for (const text of [a.out, again.out, rb.out]) assert.ok(!text.includes(LAB_SUDO_PASSWORD), 'the sudo password is in the output');
      const journals = join(dir, 'state', state);
      const walk = (p: string): string[] => (lstatSync(p).isDirectory() ? readdirSync(p).flatMap((n) => walk(join(p, n))) : [p]);
      for (const f of walk(journals)) assert.ok(!readFileSync(f, 'latin1').includes(LAB_SUDO_PASSWORD), `the sudo password is in ${f}`);
    });
  }
});
