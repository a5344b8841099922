// The simulated container runtime is not softer than docker/containerd while a static pod restarts: the
// old etcd container is listed as running until its (real) etcd process has exited, and the kubelet does
// not create the new one before that. The old etcd is frozen (SIGSTOP) so the window is deterministic:
// the kubelet's SIGTERM stays pending, as with an etcd that takes its time to shut down, until SIGCONT.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
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

/** crictl ps [-a] --name ^etcd$: [container id, state, pod id] (13 characters each) per etcd container */
async function criPs(n: SimNode, all: boolean): Promise<Array<readonly [string, string, string]>> {
  const r = await n.run('crictl', 'ps', ...(all ? ['-a'] : []), '--name', '^etcd$');
  assert.equal(r.code, 0, r.out);
  return r.stdout.split('\n').slice(1).filter(Boolean).map((l) => {
    const m = /^(\w+)\s.*\s(Running|Exited)\s+etcd\s+\d+\s+(\w+)\s/.exec(l);
    assert.ok(m, `crictl ps line: ${l}`);
    return [m[1]!, m[2]!, m[3]!] as const;
  });
}

/** The real etcd processes of this node (by the node's root in their flags), zombies left out. */
function etcdProcesses(n: SimNode): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv[0] === ETCD_BIN && argv.some((a) => a.includes(n.root + '/'))) pids.push(Number(d));
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

/** freezes etcd `pid` (SIGSTOP): a SIGTERM stays pending until SIGCONT, SIGKILL still ends it */
function freeze(pid: number): void {
  process.kill(pid, 'SIGSTOP');
  frozen.add(pid);
}

/**
 * Resolves once a SIGTERM is pending for frozen etcd `pid`: the runtime's stop has reached it. A fixed
 * sleep is not enough: on a loaded machine the docker command's own start can take longer than it.
 */
async function sigtermPending(pid: number): Promise<void> {
  const SIGTERM_BIT = 1n << 14n; // signal 15
  await waitFor(`a SIGTERM pending for etcd ${pid}`, () => {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const pending = [...status.matchAll(/^(?:ShdPnd|SigPnd):\s*([0-9a-f]+)$/gm)].reduce((m, x) => m | BigInt('0x' + x[1]!), 0n);
    return (pending & SIGTERM_BIT) !== 0n;
  }, 60_000, 50);
}

/** moves the etcd manifest out of manifests/ and waits until the kubelet has dropped (is killing) the pod */
async function manifestOut(n: SimNode): Promise<void> {
  const aside = join(n.root, 'root/manifests-out/etcd.yaml');
  mkdirSync(join(aside, '..'), { recursive: true });
  const removes = kubeletSaid(n, 'SyncLoop REMOVE source="file" pods=["kube-system/etcd-');
  renameSync(join(n.root, 'etc/kubernetes/manifests/etcd.yaml'), aside);
  await waitFor('the kubelet to drop the etcd pod', () => kubeletSaid(n, 'SyncLoop REMOVE source="file" pods=["kube-system/etcd-') > removes, 20_000, 100);
}

/** A started crictl node (healthy-1.28) and its running etcd container's [id, state, pod id]. */
async function crictlNodeWithEtcd(): Promise<{ n: SimNode; old: readonly [string, string, string] }> {
  const n = await makeNode('healthy-1.28');
  await n.start();
  const running = await waitFor('etcd running', async () => {
    const rows = await criPs(n, false);
    return rows.length === 1 && existsSync(join(n.root, 'run/sim/etcd.pid')) ? rows : false;
  }, 60_000, 300);
  return { n, old: running[0]! };
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
  await sigtermPending(oldPid); // the stop has reached the runtime: it must not answer while etcd lives
  await new Promise((res) => setTimeout(res, 1000));
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
  const { n, old } = await crictlNodeWithEtcd();
  const oldId = old[0];
  const oldPid = etcdPid(n);
  process.kill(oldPid, 'SIGSTOP');
  frozen.add(oldPid);
  let answered = false;
  const stop = n.run('crictl', 'stop', '--timeout', '30', oldId).then((r) => ((answered = true), r));
  await sigtermPending(oldPid); // the stop has reached the runtime: it must not answer while etcd lives
  await new Promise((res) => setTimeout(res, 1000));
  assert.equal(answered, false, 'crictl stop waits for the process to exit');
  assert.deepEqual((await criPs(n, true)).map(([id, state]) => [id, state]), [[oldId, 'Running']]);
  assert.ok(alive(oldPid));
  process.kill(oldPid, 'SIGCONT');
  frozen.delete(oldPid);
  const r = await stop;
  assert.deepEqual([r.code, r.stdout], [0, oldId + '\n'], r.out);
  assert.equal(alive(oldPid), false);
  const rows = await waitFor('a new etcd container', async () => {
    const x = await criPs(n, true);
    return x.length === 2 ? x : false;
  }, 30_000, 100);
  assert.deepEqual(rows.map(([id, s]) => (id === oldId ? `old ${s}` : `new ${s}`)).sort(), ['new Running', 'old Exited']);
  await n.stop();
});

test('docker kill during the kubelet\'s kill (30 s grace) sends SIGKILL at once: it answers within seconds, the etcd gone', { skip, timeout: 120_000 }, async () => {
  const { n, old } = await dockerNodeWithEtcd();
  const oldPid = etcdPid(n);
  freeze(oldPid);
  await manifestOut(n);
  assert.ok(alive(oldPid), 'the kubelet\'s SIGTERM is pending (grace 30 s)');
  const t0 = Date.now();
  const r = await n.run('docker', 'kill', old.id);
  const took = Date.now() - t0;
  assert.deepEqual([r.code, r.stdout], [0, old.id + '\n'], r.out);
  assert.ok(took < 3000, `docker kill answered after ${took} ms (the kubelet's 30 s grace must not hold back its SIGKILL)`);
  assert.equal(alive(oldPid), false);
  assert.deepEqual(etcdProcesses(n), []);
  await n.stop();
});

test('docker stop of several IDs, one not found: stops the others, answers once they have exited, exit code 137 after the grace period', { skip, timeout: 120_000 }, async () => {
  const { n, old } = await dockerNodeWithEtcd();
  const oldPid = etcdPid(n);
  freeze(oldPid);
  const t0 = Date.now();
  const r = await n.run('docker', 'stop', '-t', '2', 'nosuchcontainer', old.id);
  const took = Date.now() - t0;
  assert.equal(r.code, 1, r.out);
  assert.equal(r.stdout, old.id + '\n', r.out);
  assert.match(r.stderr, /No such container: nosuchcontainer/);
  assert.ok(took >= 1500, `answered after ${took} ms: before the 2 s grace period was over`);
  assert.equal(alive(oldPid), false, 'answered once the container had exited');
  assert.match((await dockerPsEtcd(n, true)).find((x) => x.id === old.id)?.status ?? '', /^Exited \(137\) /);
  // an emulated component's container: docker kill (SIGKILL) leaves it Exited (137) too
  const sched = (await n.run('docker', 'ps', '--filter', 'name=k8s_kube-scheduler_', '--format', '{{.ID}}')).stdout.trim();
  assert.match(sched, /^\w{12}$/);
  assert.equal((await n.run('docker', 'kill', sched)).code, 0);
  const killed = await n.run('docker', 'ps', '-a', '--filter', `id=${sched}`, '--format', '{{.Status}}');
  assert.match(killed.stdout, /^Exited \(137\) /, killed.out);
  await n.stop();
});

test('agent shutdown during a docker restart (its stop pending) leaves no etcd process behind', { skip, timeout: 120_000 }, async () => {
  const { n, old } = await dockerNodeWithEtcd();
  const oldPid = etcdPid(n);
  freeze(oldPid);
  const restart = n.run('docker', 'restart', '-t', '30', old.id).catch((e: Error) => e);
  await sigtermPending(oldPid);
  await n.stop();
  await restart;
  assert.equal(alive(oldPid), false, 'the old etcd was killed by the shutdown');
  assert.deepEqual(etcdProcesses(n), [], 'no etcd was started by the restart after the shutdown');
});

test('docker restart and docker rm -f of the pod\'s sandbox at once: one etcd process afterwards, the kubelet\'s', { skip, timeout: 120_000 }, async () => {
  const { n, old } = await dockerNodeWithEtcd();
  const oldPid = etcdPid(n);
  const sandbox = await n.run('docker', 'ps', '--filter', 'name=k8s_POD_etcd', '--format', '{{.ID}}');
  const podId = sandbox.stdout.trim();
  assert.match(podId, /^\w{12}$/, sandbox.out);
  freeze(oldPid);
  const restart = n.run('docker', 'restart', '-t', '30', old.id);
  await sigtermPending(oldPid); // the restart first, then the sandbox's removal
  const rm = await n.run('docker', 'rm', '-f', podId);
  assert.equal(rm.code, 0, rm.out);
  assert.equal((await restart).code, 0);
  assert.equal(alive(oldPid), false);
  // the kubelet recreates the sandbox and its etcd
  const rows = await waitFor('a new etcd container running', async () => {
    const x = await dockerPsEtcd(n);
    return x.length === 1 && x[0]!.id !== old.id && existsSync(join(n.root, 'run/sim/etcd.pid')) ? x : false;
  }, 30_000, 200);
  assert.match(rows[0]!.status, /^Up /);
  await new Promise((res) => setTimeout(res, 1500)); // several kubelet syncs
  assert.deepEqual(etcdProcesses(n), [etcdPid(n)], 'only the etcd of the running container');
  await n.stop();
});

test('crictl: stop of several IDs answers the not-found one after the earlier stop; logs -t; exit code 137; a terminating pod in crictl pods and rmp -af', { skip, timeout: 120_000 }, async () => {
  const { n, old } = await crictlNodeWithEtcd();
  const [oldId] = old;
  const oldPid = etcdPid(n);
  const logs = await n.run('crictl', 'logs', '-t', oldId);
  assert.equal(logs.code, 0, logs.out);
  freeze(oldPid);
  const t0 = Date.now();
  const r = await n.run('crictl', 'stop', '--timeout', '2', oldId, 'nosuchcontainer');
  const took = Date.now() - t0;
  assert.equal(r.code, 1, r.out);
  assert.equal(r.stdout, oldId + '\n', r.out);
  assert.match(r.stderr, /find container \\"nosuchcontainer\\": not found/);
  assert.ok(took >= 1500, `answered after ${took} ms: before the 2 s timeout was over`);
  assert.equal(alive(oldPid), false, 'answered once the container had exited');
  const inspect = await n.run('crictl', 'inspect', oldId);
  assert.equal((JSON.parse(inspect.stdout) as { status: { exitCode: number } }).status.exitCode, 137, inspect.out);

  // the next etcd; the kubelet drops its pod (30 s grace) while it is frozen: still listed by crictl ps and crictl pods
  const next = await waitFor('a new etcd container running', async () => {
    const x = (await criPs(n, false)).filter(([id]) => id !== oldId);
    return x.length === 1 && etcdPid(n) !== oldPid ? x[0]! : false;
  }, 30_000, 200);
  const nextPid = etcdPid(n);
  freeze(nextPid);
  await manifestOut(n);
  assert.deepEqual((await criPs(n, false)).map(([id, state]) => [id, state]), [[next[0], 'Running']]);
  const pods = await n.run('crictl', 'pods', '-q');
  assert.ok(pods.stdout.split('\n').some((id) => id.startsWith(next[2])), `crictl pods lists the terminating pod ${next[2]}: ${pods.out}`);
  const rmp = await n.run('crictl', 'rmp', '-af');
  assert.equal(rmp.code, 0, rmp.out);
  assert.equal(alive(nextPid), false, 'rmp -af answered once the terminating pod\'s etcd had exited');
  await n.stop();
});
