// The simulated container runtime is not softer than docker/containerd while a static pod restarts: the
// old etcd container is listed as running until its (real) etcd process has exited, and the kubelet does
// not create the new one before that. The old etcd is frozen (SIGSTOP) so the window is deterministic:
// the kubelet's SIGTERM stays pending, as with an etcd that takes its time to shut down, until SIGCONT.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { makeNode, cleanupAll, waitFor, alive, type SimNode } from './testkit.js';
import { ETCD_BIN } from './etcd.js';

const skip = existsSync(ETCD_BIN) ? false : `needs ${ETCD_BIN} (Debian's etcd-server)`;

const frozen = new Set<number>();
after(async () => {
  for (const pid of frozen) if (alive(pid)) process.kill(pid, 'SIGCONT');
  const started = await cleanupAll();
  for (const p of started) assert.equal(alive(p), false, `agent ${p} left running`);
});

interface Listed {
  id: string;
  status: string;
}

/** The etcd containers `docker ps` lists (running ones; with -a every one), as the runbooks filter them. */
async function dockerPsEtcd(n: SimNode, all = false): Promise<Listed[]> {
  const r = await n.run('docker', 'ps', ...(all ? ['-a'] : []), '--filter', 'name=k8s_etcd_', '--format', '{{.ID}}\t{{.Status}}');
  assert.equal(r.code, 0, r.out);
  return r.stdout.split('\n').filter(Boolean).map((l) => {
    const [id = '', status = ''] = l.split('\t');
    return { id, status };
  });
}

const kubeletSaid = (n: SimNode, what: string) => n.file('var/log/sim/kubelet.journal').split('\n').filter((l) => l.includes(what)).length;
const etcdPid = (n: SimNode) => Number(readFileSync(join(n.root, 'run/sim/etcd.pid'), 'utf8'));

/**
 * One `docker ps` while the old etcd process may still be alive: whenever it is alive after the listing
 * was made (so it was alive while it was made), the old container is listed Up and no other etcd is.
 * What was wrong is added to `wrong` (waitFor would swallow a thrown assertion).
 */
async function psWhileOldAlive(n: SimNode, oldPid: number, oldId: string, wrong: string[]): Promise<Listed[]> {
  const rows = await dockerPsEtcd(n);
  if (alive(oldPid) && !(rows.length === 1 && rows[0]!.id === oldId && /^Up /.test(rows[0]!.status))) {
    wrong.push(`old etcd (pid ${oldPid}) still alive, yet docker ps listed ${JSON.stringify(rows)} (want only ${oldId}, Up)`);
  }
  return rows;
}

/** A started docker node (seed2-1.11: its etcd certificates are valid) and its running etcd container. */
async function dockerNodeWithEtcd(): Promise<{ n: SimNode; old: Listed }> {
  const n = await makeNode('seed2-1.11-docker');
  await n.start();
  const [old] = await waitFor('etcd running', async () => {
    const rows = await dockerPsEtcd(n);
    return rows.length === 1 && existsSync(join(n.root, 'run/sim/etcd.pid')) ? rows : false;
  }, 60_000, 300);
  return { n, old: old! };
}

test('docker: during an etcd restart the old container is Up until its process has exited, and no new one runs before', { skip, timeout: 120_000 }, async () => {
  const { n, old } = await dockerNodeWithEtcd();
  const oldId = old.id;
  const oldPid = etcdPid(n);
  assert.ok(alive(oldPid), `etcd ${oldPid} runs`);

  // freeze etcd: the kubelet's SIGTERM stays pending until SIGCONT (the kill waits for the pod's 30 s grace period)
  process.kill(oldPid, 'SIGSTOP');
  frozen.add(oldPid);
  const manifest = join(n.root, 'etc/kubernetes/manifests/etcd.yaml');
  const aside = join(n.root, 'root/manifests-out/etcd.yaml');
  mkdirSync(join(aside, '..'), { recursive: true });
  const removes = kubeletSaid(n, 'SyncLoop REMOVE source="file" pods=["kube-system/etcd-');
  renameSync(manifest, aside);
  await waitFor('the kubelet to drop the etcd pod', () => kubeletSaid(n, 'SyncLoop REMOVE source="file" pods=["kube-system/etcd-') > removes, 20_000, 100);
  // the pod is killed, its process not exited: docker lists the container as Up (docker ps -a too)
  const wrong: string[] = [];
  await psWhileOldAlive(n, oldPid, oldId, wrong);
  assert.deepEqual(wrong, []);
  assert.deepEqual((await dockerPsEtcd(n, true)).map((x) => x.id), [oldId]);
  assert.ok(alive(oldPid));

  // the manifest comes back: the kubelet sees the pod again but creates no container while the old one is alive
  const adds = kubeletSaid(n, 'SyncLoop ADD source="file" pods=["kube-system/etcd-');
  renameSync(aside, manifest);
  await waitFor('the kubelet to add the etcd pod again', () => kubeletSaid(n, 'SyncLoop ADD source="file" pods=["kube-system/etcd-') > adds, 20_000, 100);
  for (let i = 0; i < 5; i++) {
    await psWhileOldAlive(n, oldPid, oldId, wrong);
    await new Promise((res) => setTimeout(res, 200)); // several kubelet syncs (every 100 ms; containerRestartMs 200)
  }
  assert.deepEqual(wrong, []);
  assert.ok(alive(oldPid));
  // not even created: docker ps -a has no other etcd container either
  assert.deepEqual((await dockerPsEtcd(n, true)).map((x) => x.id), [oldId]);

  // etcd goes on with its SIGTERM and exits; only then does the new container appear, running
  process.kill(oldPid, 'SIGCONT');
  frozen.delete(oldPid);
  const rows = await waitFor('a new etcd container running', async () => {
    const r = await psWhileOldAlive(n, oldPid, oldId, wrong);
    return r.some((x) => x.id !== oldId) ? r : false;
  }, 30_000, 50);
  assert.deepEqual(wrong, []);
  assert.equal(alive(oldPid), false, 'the new container runs only after the old etcd has exited');
  assert.deepEqual(rows.map((x) => x.id).filter((id) => id === oldId), [], `the old container is no longer running: ${JSON.stringify(rows)}`);
  assert.match(rows[0]!.status, /^Up /);
  assert.notEqual(etcdPid(n), oldPid);
  await n.stop();
});

test('docker stop answers once the container has exited; until then docker ps lists it Up', { skip, timeout: 120_000 }, async () => {
  const { n, old } = await dockerNodeWithEtcd();
  const oldPid = etcdPid(n);
  process.kill(oldPid, 'SIGSTOP');
  frozen.add(oldPid);
  let answered = false;
  const stop = n.run('docker', 'stop', '-t', '30', old.id).then((r) => ((answered = true), r));
  await new Promise((res) => setTimeout(res, 1500));
  assert.equal(answered, false, 'docker stop waits for the process to exit');
  const wrong: string[] = [];
  await psWhileOldAlive(n, oldPid, old.id, wrong);
  assert.deepEqual(wrong, []);
  process.kill(oldPid, 'SIGCONT');
  frozen.delete(oldPid);
  const r = await stop;
  assert.deepEqual([r.code, r.stdout], [0, old.id + '\n'], r.out);
  assert.equal(alive(oldPid), false);
  assert.match((await dockerPsEtcd(n, true)).find((x) => x.id === old.id)?.status ?? '', /^Exited \(0\) /);
  await n.stop();
});

test('crictl: stop answers once the container has exited; until then crictl ps lists it Running and no other etcd container', { skip, timeout: 120_000 }, async () => {
  const n = await makeNode('healthy-1.28');
  await n.start();
  /** crictl ps [-a] --name ^etcd$: [id (13 characters), state] a container */
  const criPs = async (all: boolean) => {
    const r = await n.run('crictl', 'ps', ...(all ? ['-a'] : []), '--name', '^etcd$');
    assert.equal(r.code, 0, r.out);
    return r.stdout.split('\n').slice(1).filter(Boolean).map((l) => {
      const m = /^(\w+)\s.*\s(Running|Exited)\s+etcd\s/.exec(l);
      assert.ok(m, `crictl ps line: ${l}`);
      return [m[1]!, m[2]!] as const;
    });
  };
  const running = await waitFor('etcd running', async () => {
    const rows = await criPs(false);
    return rows.length === 1 && existsSync(join(n.root, 'run/sim/etcd.pid')) ? rows : false;
  }, 60_000, 300);
  const oldId = running[0]![0];
  const oldPid = etcdPid(n);
  process.kill(oldPid, 'SIGSTOP');
  frozen.add(oldPid);
  let answered = false;
  const stop = n.run('crictl', 'stop', '--timeout', '30', oldId).then((r) => ((answered = true), r));
  await new Promise((res) => setTimeout(res, 1500));
  assert.equal(answered, false, 'crictl stop waits for the process to exit');
  assert.deepEqual(await criPs(true), [[oldId, 'Running']]);
  assert.ok(alive(oldPid));
  process.kill(oldPid, 'SIGCONT');
  frozen.delete(oldPid);
  const r = await stop;
  assert.deepEqual([r.code, r.stdout], [0, oldId + '\n'], r.out);
  assert.equal(alive(oldPid), false);
  const rows = await waitFor('a new etcd container', async () => {
    const x = await criPs(true);
    return x.length === 2 ? x : false;
  }, 30_000, 100);
  assert.deepEqual(rows.map(([id, s]) => (id === oldId ? `old ${s}` : `new ${s}`)).sort(), ['new Running', 'old Exited']);
  await n.stop();
});
