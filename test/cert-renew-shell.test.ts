/**
 * The shell helpers of runbooks/cert-renew.yaml that decide whether a static pod really restarted,
 * run by the real /bin/sh against a stand-in `crictl` on the PATH that lists a fixed set of
 * containers (running, or exited: `ps -a`). The end-to-end suite runs them against the simulator;
 * this pins down the case it cannot easily provoke: a container that had exited before the restart
 * (a crash-looping pod on expired certificates) must never be taken for the new one.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { packageRoot } from '../src/lab/sim/paths.js';

let dir: string;
let vars: Record<string, string>;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-cert-shell-'));
  vars = (load(readFileSync(join(packageRoot, 'runbooks/cert-renew.yaml'), 'utf8')) as { vars: Record<string, string> }).vars;
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'manifests'));
  writeFileSync(join(dir, 'manifests', 'etcd.yaml'), 'kind: Pod\n');
  // crictl ps [-a] -q [--name ^NAME$]: ids from $RUNNING / $EXITED ("name:id name:id ...")
  writeFileSync(
    join(dir, 'bin', 'crictl'),
    `#!/bin/sh
all=; name=
while [ $# -gt 0 ]; do case $1 in -a) all=1;; --name) shift; name=$(printf '%s' "$1" | tr -d '^$');; esac; shift; done
for e in $RUNNING \${all:+$EXITED}; do n=\${e%%:*}; id=\${e#*:}; [ -z "$name" ] || [ "$n" = "$name" ] && echo "$id"; done
exit 0
`,
  );
  chmodSync(join(dir, 'bin', 'crictl'), 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function sh(script: string, args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile('/bin/sh', ['-c', script, 'sh', ...args], { env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

test('rollback onto a control plane that cannot run: an old exited container is not the new one', async () => {
  // before the restart: etcd's old container c1 exited long ago (crash loop), nothing running
  const before = { RUNNING: '', EXITED: 'etcd:c1' };
  const old = await sh(vars.sh_running_containers!, ['containerd', 'all', 'etcd'], before);
  assert.equal(old.code, 0, old.out);
  assert.equal(old.out.trim(), 'etcd c1', 'the list taken before the restart names exited containers too');
  // the kubelet has not started a new container yet: still only c1, exited
  const waiting = await sh(vars.sh_new_containers_running!, ['containerd', old.out, join(dir, 'manifests'), 'any', 'etcd'], before);
  assert.notEqual(waiting.code, 0, `c1 was taken for a new container:\n${waiting.out}`);
  assert.match(waiting.out, /no new running container yet for: etcd/);
  // the restart happened: c2 was created (and exited at once, on its expired certificates)
  const after = await sh(vars.sh_new_containers_running!, ['containerd', old.out, join(dir, 'manifests'), 'any', 'etcd'], { RUNNING: '', EXITED: 'etcd:c1 etcd:c2' });
  assert.equal(after.code, 0, after.out);
  assert.match(after.out, /etcd: new container c2/);
});

test('apply: the running list is what the restart waits on; the new container must be running', async () => {
  const old = await sh(vars.sh_running_containers!, ['containerd', 'running', 'etcd'], { RUNNING: 'etcd:r1', EXITED: 'etcd:c0' });
  assert.equal(old.out.trim(), 'etcd r1');
  const gone = await sh(vars.sh_old_containers_gone!, ['containerd', old.out], { RUNNING: 'etcd:r1' });
  assert.notEqual(gone.code, 0);
  assert.match(gone.out, /has not stopped yet: etcd\(r1\)/);
  const stopped = await sh(vars.sh_old_containers_gone!, ['containerd', old.out], { RUNNING: '' });
  assert.equal(stopped.code, 0, stopped.out);
  // an exited container is no proof of a restart in `running` mode
  const exited = await sh(vars.sh_new_containers_running!, ['containerd', old.out, join(dir, 'manifests'), 'running', 'etcd'], { RUNNING: '', EXITED: 'etcd:r1 etcd:r2' });
  assert.notEqual(exited.code, 0, exited.out);
  const running = await sh(vars.sh_new_containers_running!, ['containerd', old.out, join(dir, 'manifests'), 'running', 'etcd'], { RUNNING: 'etcd:r2', EXITED: 'etcd:r1' });
  assert.equal(running.code, 0, running.out);
});
