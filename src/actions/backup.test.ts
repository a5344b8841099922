import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backupAction, refuseBackupDir } from './backup.js';
import { restoreAction, restoreFromManifest } from './restore.js';
import { validateManifest, type Manifest } from './tree.js';
import { makeCtx, tempDir } from './testing.js';
import type { BackupParams } from '../runbook/schema-types.js';

/** path → type/mode/sha256/target of every entry under root. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string, rel: string) => {
    const st = lstatSync(p);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out[rel] = `l ${readlinkSync(p)}`;
    else if (st.isDirectory()) {
      out[rel] = `d ${mode}`;
      for (const n of readdirSync(p)) walk(join(p, n), `${rel}/${n}`);
    } else out[rel] = `f ${mode} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  };
  if (existsSync(root) || (() => { try { lstatSync(root); return true; } catch { return false; } })()) walk(root, '');
  return out;
}

/** A backup step's probe, then its apply, as the engine runs it. */
async function backUp(ctx: ReturnType<typeof makeCtx>, params: BackupParams) {
  return backupAction.apply(ctx, params, await backupAction.probe(ctx, params));
}

function makeTree(dir: string): string {
  const kube = join(dir, 'etc/kubernetes');
  mkdirSync(join(kube, 'pki/etcd'), { recursive: true });
  mkdirSync(join(kube, 'manifests'));
  writeFileSync(join(kube, 'admin.conf'), 'apiVersion: v1\n', { mode: 0o600 });
  writeFileSync(join(kube, 'pki/ca.crt'), 'CA\n', { mode: 0o644 });
  writeFileSync(join(kube, 'pki/ca.key'), 'KEY\n', { mode: 0o600 });
  writeFileSync(join(kube, 'pki/etcd/server.crt'), 'ETCD\n');
  writeFileSync(join(kube, 'manifests/kube-apiserver.yaml'), 'kind: Pod\n');
  writeFileSync(join(kube, 'odd name\nwith newline \\ and\ttab'), 'weird\n');
  symlinkSync('pki/ca.crt', join(kube, 'ca-link.crt'));
  chmodSync(join(kube, 'pki'), 0o750);
  return kube;
}

test('backup → change files → restore gives a byte-identical tree; idempotent both ways', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const kube = makeTree(dir);
    const missing = join(dir, 'var/lib/kubelet/pki'); // does not exist at backup time
    const to = join(dir, 'backups/run-1');
    const ctx = makeCtx({ runId: 'run-1' });
    const before = snapshot(kube);

    const p1 = await backupAction.probe(ctx, { paths: [kube, missing], to });
    assert.equal(p1.status, 'change');
    ctx.transport.calls.length = 0;
    const r = await backupAction.apply(ctx, { paths: [kube, missing], to }, p1);
    assert.equal(r.changed, true);
    assert.deepEqual(ctx.transport.calls.map((c) => c.split(' ')[0]), ['exec', 'write'], 'one exec + one write');
    const p2 = await backupAction.probe(ctx, { paths: [kube, missing], to });
    assert.equal(p2.status, 'ok');
    assert.equal(lstatSync(to).mode & 0o777, 0o700);

    const manifest = JSON.parse(readFileSync(join(to, 'manifest.json'), 'utf8')) as Manifest;
    assert.equal(manifest.version, 1);
    assert.equal(manifest.run_id, 'run-1');
    assert.deepEqual(manifest.roots, [{ path: kube, existed: true }, { path: missing, existed: false }]);
    const key = manifest.entries.find((e) => e.path === join(kube, 'pki/ca.key'))!;
    assert.equal(key.type, 'file');
    assert.equal(key.mode, 0o600);
    assert.equal(key.sha256, createHash('sha256').update('KEY\n').digest('hex'));
    assert.equal(manifest.entries.find((e) => e.path === join(kube, 'ca-link.crt'))!.target, 'pki/ca.crt');
    assert.ok(manifest.entries.some((e) => e.path === join(kube, 'odd name\nwith newline \\ and\ttab') && e.sha256));
    assert.ok(manifest.entries.every((e) => e.type !== 'file' || /^[0-9a-f]{64}$/.test(e.sha256!)));

    // restore is ok right away
    assert.equal((await restoreAction.probe(ctx, { from: to })).status, 'ok');

    // damage: modify, add, delete, chmod, create the root that did not exist
    writeFileSync(join(kube, 'pki/ca.crt'), 'EVIL\n');
    writeFileSync(join(kube, 'pki/new.crt'), 'new\n');
    rmSync(join(kube, 'pki/etcd'), { recursive: true });
    chmodSync(join(kube, 'admin.conf'), 0o644);
    mkdirSync(missing, { recursive: true });
    writeFileSync(join(missing, 'kubelet-client-current.pem'), 'x');

    const rp = await restoreAction.probe(ctx, { from: to });
    assert.equal(rp.status, 'change');
    assert.match(rp.summary!, /difference/);
    const rr = await restoreAction.apply(ctx, { from: to }, rp);
    assert.ok(!rr.failed, rr.message);
    assert.equal(rr.changed, true);
    assert.deepEqual(snapshot(kube), before);
    assert.equal(existsSync(missing), false, 'a root absent at backup time is removed');
    assert.equal((await restoreAction.probe(ctx, { from: to })).status, 'ok');

    // the engine's entry point, and a restore of one sub-path only
    writeFileSync(join(kube, 'pki/ca.crt'), 'EVIL again\n');
    writeFileSync(join(kube, 'admin.conf'), 'changed too\n');
    const sub = await restoreFromManifest(ctx, to, [join(kube, 'pki')]);
    assert.equal(sub.changed, true);
    assert.equal(readFileSync(join(kube, 'pki/ca.crt'), 'utf8'), 'CA\n');
    assert.equal(readFileSync(join(kube, 'admin.conf'), 'utf8'), 'changed too\n', 'outside the sub-path: untouched');
    await restoreFromManifest(ctx, to);
    assert.deepEqual(snapshot(kube), before);
  } finally {
    cleanup();
  }
});

test('backup refuses kubelet manifests dirs, overlaps; another run\'s backup is not overwritten', async () => {
  assert.match(refuseBackupDir('/etc/kubernetes/manifests/backup', ['/etc/kubernetes/pki'])!, /static pods/);
  assert.match(refuseBackupDir('/tmp/sandbox/etc/kubernetes/manifests', ['/x'])!, /static pods/);
  assert.match(refuseBackupDir('/etc/kubernetes/bak', ['/etc/kubernetes'])!, /inside/);
  assert.equal(refuseBackupDir('/var/backups/runbook/1', ['/etc/kubernetes']), undefined);
  const { dir, cleanup } = tempDir();
  try {
    const kube = makeTree(dir);
    await assert.rejects(backupAction.probe(makeCtx(), { paths: [kube], to: join(kube, 'manifests/bak') }), /static pods/);
    const to = join(dir, 'bk');
    const ctx = makeCtx({ runId: 'A' });
    await backUp(ctx, { paths: [kube], to });
    await assert.rejects(backupAction.probe(makeCtx({ runId: 'B' }), { paths: [kube], to }), /from run "A"/);
  } finally {
    cleanup();
  }
});

test('restore refuses manifests with .. , paths outside the roots, symlink escapes, a damaged backup', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const kube = makeTree(dir);
    const to = join(dir, 'bk');
    const ctx = makeCtx();
    await backUp(ctx, { paths: [kube], to });
    const good = JSON.parse(readFileSync(join(to, 'manifest.json'), 'utf8')) as Manifest;
    assert.ok(validateManifest(good, 'm'));
    const variants: Array<[string, (m: Manifest) => void, RegExp]> = [
      ['dotdot', (m) => m.entries.push({ ...m.entries[1]!, path: `${kube}/../../etc/passwd` }), /normalised path without \.\./],
      ['outside', (m) => m.entries.push({ ...m.entries.find((e) => e.type === 'file')!, path: '/etc/passwd' }), /outside the backed-up roots/],
      ['symlink escape', (m) => m.entries.push({ path: `${kube}/evil`, type: 'symlink', size: 11, mode: 0o777, uid: 0, gid: 0, target: '/etc/shadow' }), /points outside/],
      ['relative symlink escape', (m) => m.entries.push({ path: `${kube}/evil`, type: 'symlink', size: 11, mode: 0o777, uid: 0, gid: 0, target: '../../../../etc' }), /points outside/],
      ['through a symlink', (m) => m.entries.push({ ...m.entries.find((e) => e.type === 'file')!, path: `${kube}/ca-link.crt/x` }), /parent is not a directory/],
      ['root /', (m) => m.roots.push({ path: '/', existed: true }), /bad root/],
    ];
    for (const [name, mutate, re] of variants) {
      const m = structuredClone(good);
      mutate(m);
      writeFileSync(join(to, 'manifest.json'), JSON.stringify(m));
      await assert.rejects(restoreAction.probe(ctx, { from: to }), re, name);
      await assert.rejects(restoreFromManifest(ctx, to), re, name);
    }
    writeFileSync(join(to, 'manifest.json'), JSON.stringify(good));
    // damaged backup copy: nothing is touched
    writeFileSync(join(kube, 'admin.conf'), 'live, newer\n');
    writeFileSync(join(to, 'files', kube, 'pki/ca.key'), 'tampered\n');
    await assert.rejects(restoreFromManifest(ctx, to), /does not match its manifest[\s\S]*ca\.key/);
    assert.equal(readFileSync(join(kube, 'admin.conf'), 'utf8'), 'live, newer\n');
  } finally {
    cleanup();
  }
});

test('backup/restore of a single file root; a sub-path that appeared since is removed; dry run before the backup', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const kube = makeTree(dir);
    const conf = join(kube, 'admin.conf');
    const to = join(dir, 'bk');
    const dry = makeCtx({ dryRun: true });
    const early = await restoreAction.probe(dry, { from: to });
    assert.equal(early.status, 'unknown', 'no backup yet: unknown in a dry run');
    await assert.rejects(restoreAction.probe(makeCtx(), { from: to }), /no manifest\.json/);

    const ctx = makeCtx();
    await backUp(ctx, { paths: [conf, join(kube, 'pki')], to });
    writeFileSync(conf, 'changed\n');
    mkdirSync(join(kube, 'pki/new-dir'));
    writeFileSync(join(kube, 'pki/new-dir/x'), 'x');
    await restoreFromManifest(ctx, to, [conf, join(kube, 'pki/new-dir')]);
    assert.equal(readFileSync(conf, 'utf8'), 'apiVersion: v1\n');
    assert.equal(lstatSync(conf).mode & 0o777, 0o600);
    assert.equal(existsSync(join(kube, 'pki/new-dir')), false);
    assert.equal((await restoreAction.probe(ctx, { from: to })).status, 'ok');
    await assert.rejects(restoreFromManifest(ctx, to, ['/etc/passwd']), /not in the backup/);
  } finally {
    cleanup();
  }
});

test('a root whose parent directory name ends in a newline is backed up as present and restored, not removed', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const parent = join(dir, 'd\n');
    mkdirSync(parent);
    const conf = join(parent, 'conf');
    writeFileSync(conf, 'precious\n');
    const to = join(dir, 'bk');
    const ctx = makeCtx();
    await backUp(ctx, { paths: [conf], to });
    const manifest = JSON.parse(readFileSync(join(to, 'manifest.json'), 'utf8')) as Manifest;
    assert.ok(manifest.entries.some((e) => e.path === conf), `the backup holds ${JSON.stringify(conf)}: ${JSON.stringify(manifest.entries.map((e) => e.path))}`);
    writeFileSync(conf, 'changed\n');
    await restoreFromManifest(ctx, to);
    assert.equal(readFileSync(conf, 'utf8'), 'precious\n');
  } finally {
    cleanup();
  }
});

test('a backup directory two hosts of one run share (a shared filesystem, one machine under two names): the second refuses it, and a restore refuses the other host\'s backup', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const conf = join(dir, 'motd');
    writeFileSync(conf, 'host one\n');
    const to = join(dir, 'shared');
    const one = makeCtx({ hostName: 'h1', runId: 'run-s' });
    await backUp(one, { paths: [conf], to });
    const two = makeCtx({ hostName: 'h2', runId: 'run-s' });
    await assert.rejects(backupAction.probe(two, { paths: [conf], to }), /already holds this run's backup of host "h1"; h2 would overwrite it/);
    writeFileSync(conf, 'changed\n');
    await assert.rejects(restoreFromManifest(two, to), /holds the backup of host "h1", not of h2; nothing was changed/);
    assert.equal(readFileSync(conf, 'utf8'), 'changed\n');
    await restoreFromManifest(one, to);
    assert.equal(readFileSync(conf, 'utf8'), 'host one\n');
  } finally {
    cleanup();
  }
});

test('restore keeps a directory root in place (it may be a mount point): contents, dotfiles, its own mode', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const kube = makeTree(dir);
    writeFileSync(join(kube, '.hidden'), 'dot\n');
    const to = join(dir, 'backups/run-m');
    const ctx = makeCtx({ runId: 'run-m' });
    const before = snapshot(kube);
    const ino = lstatSync(kube).ino;
    const p = await backupAction.probe(ctx, { paths: [kube], to });
    await backupAction.apply(ctx, { paths: [kube], to }, p);
    rmSync(join(kube, '.hidden'));
    writeFileSync(join(kube, '..two-dots'), 'x');
    writeFileSync(join(kube, '.new'), 'x');
    chmodSync(kube, 0o700);
    const r = await restoreFromManifest(ctx, to);
    assert.equal(r.changed, true);
    assert.deepEqual(snapshot(kube), before);
    // the same directory, never removed: `rm -rf` of a mount point fails with EBUSY
    assert.equal(lstatSync(kube).ino, ino);
    assert.deepEqual(readdirSync(join(dir, 'etc')).filter((n) => n.includes('runbook-restore')), []);
  } finally {
    cleanup();
  }
});

test('backup and symlinks: a root that is a symlink is followed (a chain too) and restored with its target; one inside a root pointing outside is refused before a manifest is written', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const kube = makeTree(dir);
    const vol = join(dir, 'data/pki');
    mkdirSync(vol, { recursive: true });
    writeFileSync(join(vol, 'ca.crt'), 'CA on the other volume\n');
    // pki → ../../data/link → pki on the other volume (relative, through a second link)
    rmSync(join(kube, 'pki'), { recursive: true });
    symlinkSync('pki', join(dir, 'data/link'));
    symlinkSync('../../data/link', join(kube, 'pki'));
    const ctx = makeCtx();
    const to = join(dir, 'bk');
    const params: BackupParams = { paths: [join(kube, 'pki')], to };
    const p = await backupAction.probe(ctx, params);
    assert.deepEqual(p.state.paths, [join(kube, 'pki'), join(dir, 'data/link'), vol]);
    assert.match(p.summary ?? '', /following .*pki → .*data\/link, .*data\/link → .*data\/pki/);
    const before = { link: snapshot(join(kube, 'pki')), vol: snapshot(vol) };
    const r = await backupAction.apply(ctx, params, p);
    assert.deepEqual((r.facts!.roots as { path: string }[]).map((x) => x.path), p.state.paths);
    writeFileSync(join(kube, 'pki/ca.crt'), 'renewed through the links\n');
    rmSync(join(kube, 'pki'));
    mkdirSync(join(kube, 'pki'));
    await restoreFromManifest(ctx, to);
    assert.deepEqual({ link: snapshot(join(kube, 'pki')), vol: snapshot(vol) }, before, 'the link and the files behind it');
    // a path named through the link: refused, not removed through it as if the backup lacked it
    await assert.rejects(restoreFromManifest(ctx, to, [join(kube, 'pki/ca.crt')]), /reached through .*pki, a symlink in the backup/);
    assert.equal(readFileSync(join(vol, 'ca.crt'), 'utf8'), 'CA on the other volume\n', 'the file behind the link is still there');

    // a symlink inside the root, out of it: refused, with what to do; no manifest, no copy left
    const out = join(kube, 'manifests/outside');
    symlinkSync(vol, out);
    const to2 = join(dir, 'bk2');
    const params2: BackupParams = { paths: [join(kube, 'manifests')], to: to2 };
    const dry = backupAction.probe(makeCtx({ dryRun: true }), params2);
    await assert.rejects(dry, (e: Error) => e.message.includes(`symlink ${out} → ${vol} points outside the backed-up paths`));
    const p2 = await backupAction.probe(ctx, params2);
    await assert.rejects(backupAction.apply(ctx, params2, p2), (e: Error & { diagnostic?: { hint?: string } }) => /restore would refuse this backup/.test(e.message) && e.diagnostic?.hint?.includes(`add ${vol} to backup.paths`) === true);
    assert.equal(existsSync(to2), false, 'nothing left of the refused backup');
    // with the target backed up too, restore accepts the link
    const params3: BackupParams = { paths: [join(kube, 'manifests'), vol], to: join(dir, 'bk3') };
    await backUp(ctx, params3);
    assert.ok(validateManifest(JSON.parse(readFileSync(join(dir, 'bk3/manifest.json'), 'utf8')), 'm'));
  } finally {
    cleanup();
  }
});
