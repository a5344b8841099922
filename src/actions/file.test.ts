import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileAction, type FileUndo } from './file.js';
import { LocalTransport } from '../transport/local.js';
import { partialUndoOf } from './partial.js';
import { copyAction } from './copy.js';
import { moveAction } from './move.js';
import { makeCtx, tempDir } from './testing.js';
import type { Action } from './types.js';

const modeOf = (p: string) => statSync(p).mode & 0o7777;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any action: the state type is the action's own
async function cycle<P>(action: Action<P, any>, params: P, ctx = makeCtx()) {
  const p1 = await action.probe(ctx, params);
  assert.equal(p1.status, 'change', `first probe: ${p1.summary}`);
  const r = await action.apply(ctx, params, p1);
  assert.equal(r.changed, true);
  assert.ok(!r.failed, r.message);
  const p2 = await action.probe(ctx, params);
  assert.equal(p2.status, 'ok', `probe after apply must be ok: ${p2.summary} ${p2.commands.join('; ')}`);
  return { p1, r, p2, ctx };
}

test('file directory: parents, mode, idempotent, undo removes what it made', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, 'a/b/c');
    const { p1, r, ctx } = await cycle(fileAction, { path, state: 'directory', mode: '0750' });
    assert.deepEqual(p1.commands, [`mkdir -p -- ${path}`, `chmod 0750 -- ${path}`]);
    assert.equal(modeOf(path), 0o750);
    ctx.transport.calls.length = 0;
    await fileAction.probe(ctx, { path, state: 'directory', mode: '0750' });
    assert.equal(ctx.transport.calls.length, 1, 'one round trip per probe');
    await fileAction.undo!(ctx, r.undo!);
    assert.equal(existsSync(join(dir, 'a')), false);
  } finally {
    cleanup();
  }
});

test('file: mode change on existing dir, undo sets it back; owner by numeric id', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const uid = String(process.getuid!());
    mkdirSync(join(dir, 'd'), { mode: 0o755 });
    const { r, ctx } = await cycle(fileAction, { path: join(dir, 'd'), state: 'directory', mode: '0700', owner: uid });
    assert.equal(modeOf(join(dir, 'd')), 0o700);
    await fileAction.undo!(ctx, r.undo!);
    assert.equal(modeOf(join(dir, 'd')), 0o755);
  } finally {
    cleanup();
  }
});

test('file: owner by name (one stat -c exec)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const user = (await makeCtx().transport.exec(['id', '-un'])).stdout.trim();
    writeFileSync(join(dir, 'f'), 'x');
    const ctx = makeCtx();
    const p = await fileAction.probe(ctx, { path: join(dir, 'f'), owner: user, mode: '0600' });
    assert.equal(ctx.transport.calls.length, 1);
    assert.deepEqual(p.commands, [`chmod 0600 -- ${join(dir, 'f')}`]);
  } finally {
    cleanup();
  }
});

test('file touch / file / absent, with undo', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, 'new.txt');
    const t = await cycle(fileAction, { path: f, state: 'touch', mode: '0640' });
    assert.equal(modeOf(f), 0o640);
    await fileAction.undo!(t.ctx, t.r.undo!);
    assert.equal(existsSync(f), false);

    await assert.rejects(fileAction.probe(makeCtx(), { path: f, state: 'file' }), /does not exist/);

    writeFileSync(f, 'precious\n', { mode: 0o604 });
    const a = await cycle(fileAction, { path: f, state: 'absent' });
    assert.equal(existsSync(f), false);
    await fileAction.undo!(a.ctx, a.r.undo!);
    assert.equal(readFileSync(f, 'utf8'), 'precious\n');
    assert.equal(modeOf(f), 0o604);

    symlinkSync('target-x', join(dir, 'ln'));
    const l = await cycle(fileAction, { path: join(dir, 'ln'), state: 'absent' });
    await fileAction.undo!(l.ctx, l.r.undo!);
    assert.equal(readlinkSync(join(dir, 'ln')), 'target-x');

    assert.equal((await fileAction.probe(makeCtx(), { path: join(dir, 'never'), state: 'absent' })).status, 'ok');
  } finally {
    cleanup();
  }
});

/** A host whose `rm -rf` of `victim` removes one entry and then fails, as on an immutable file or a busy mount point. */
class PartialRm extends LocalTransport {
  constructor(private readonly victim: string, private readonly first: string) {
    super();
  }
  override async exec(...a: Parameters<LocalTransport['exec']>) {
    const argv = a[0].map(String);
    if (argv[0] === 'rm' && argv.at(-1) === this.victim) {
      rmSync(this.first, { recursive: true });
      return { code: 1, stdout: '', stderr: `rm: cannot remove '${this.victim}/c': Operation not permitted\n`, durationMs: 1 };
    }
    return super.exec(...a);
  }
}

test('file absent: an rm that failed part-way is undone from the kept copy; a path made again since is reported, not silently left', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    for (const f of ['a', 'b', 'c']) writeFileSync(join(tree, f), `${f}\n`);
    const ctx = makeCtx({ transport: new PartialRm(tree, join(tree, 'a')) });
    const p = await fileAction.probe(ctx, { path: tree, state: 'absent' });
    const failed: unknown = await fileAction.apply(ctx, { path: tree, state: 'absent' }, p).then(
      () => assert.fail('the rm failed: the step must fail'),
      (e: unknown) => e,
    );
    assert.equal(existsSync(join(tree, 'a')), false, 'the failing rm removed part of the tree');
    const undo = partialUndoOf(failed) as FileUndo | undefined;
    assert.ok(undo, 'the failure carries its undo record');
    await fileAction.undo!(makeCtx(), undo);
    assert.deepEqual(['a', 'b', 'c'].map((f) => readFileSync(join(tree, f), 'utf8')), ['a\n', 'b\n', 'c\n'], 'the whole tree is back');

    // a complete rm, then something (a daemon restart) writes a default at the path: rollback must say so
    const f = join(dir, 'app.conf');
    writeFileSync(f, 'tuned\n');
    const gone = await cycle(fileAction, { path: f, state: 'absent' });
    writeFileSync(f, 'DEFAULT\n');
    await assert.rejects(fileAction.undo!(gone.ctx, gone.r.undo!), /app\.conf exists again.*was not put back; it is at /);
    assert.equal(readFileSync(f, 'utf8'), 'DEFAULT\n', 'what is there now is not overwritten');
  } finally {
    cleanup();
  }
});

test('file: a path with shell syntax stays literal', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const path = join(dir, '-x; touch pwned');
    await cycle(fileAction, { path, state: 'directory' });
    assert.ok(lstatSync(path).isDirectory());
    assert.equal(existsSync(join(dir, 'pwned')), false);
  } finally {
    cleanup();
  }
});

test('copy content: new file with parents, mode; idempotent; undo removes', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const dest = join(dir, 'sub/a.txt');
    const { r, ctx } = await cycle(copyAction, { dest, content: 'alpha\n', mode: '0640' });
    assert.equal(readFileSync(dest, 'utf8'), 'alpha\n');
    assert.equal(modeOf(dest), 0o640);
    ctx.transport.calls.length = 0;
    await copyAction.probe(ctx, { dest, content: 'alpha\n', mode: '0640' });
    assert.equal(ctx.transport.calls.length, 1, 'one exec per probe');
    await copyAction.undo!(ctx, r.undo!);
    assert.equal(existsSync(dest), false);
    assert.equal(existsSync(join(dir, 'sub')), false, 'the directory the copy made goes with it');

    // deeper: the directories made go, innermost first; one something was put into since stays, with those above it
    const deep = join(dir, 'new/app/conf.d/app.conf');
    const c = await cycle(copyAction, { dest: deep, content: 'x\n' });
    writeFileSync(join(dir, 'new/app/other'), 'not ours\n');
    await copyAction.undo!(c.ctx, c.r.undo!);
    assert.deepEqual([existsSync(deep), existsSync(join(dir, 'new/app/conf.d')), readFileSync(join(dir, 'new/app/other'), 'utf8')], [false, false, 'not ours\n']);
  } finally {
    cleanup();
  }
});

test('copy: replace content, undo restores previous content and mode; mode-only change', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const dest = join(dir, 'b.txt');
    writeFileSync(dest, 'old\n', { mode: 0o640 });
    chmodSync(dest, 0o644);
    const { r, ctx, p1 } = await cycle(copyAction, { dest, content: 'new\n' });
    assert.match(p1.summary!, /content differs/);
    assert.equal(readFileSync(dest, 'utf8'), 'new\n');
    assert.equal(modeOf(dest), 0o644, 'mode kept when not given');
    await copyAction.undo!(ctx, r.undo!);
    assert.equal(readFileSync(dest, 'utf8'), 'old\n');
    chmodSync(dest, 0o600);

    // a private file's content never goes into the undo record (the journal)
    const key = join(dir, 'key.pem');
    writeFileSync(key, 'SECRET KEY\n', { mode: 0o600 });
    const k = await cycle(copyAction, { dest: key, content: 'NEW KEY\n' });
    assert.equal(k.r.undo!.content_b64, undefined);
    assert.equal(JSON.stringify(k.r.undo).includes(Buffer.from('SECRET KEY\n').toString('base64')), false);
    // it is kept on the host instead, and undo puts it back exactly
    assert.equal(typeof k.r.undo!.kept, 'string');
    await copyAction.undo!(k.ctx, k.r.undo!);
    assert.equal(readFileSync(key, 'utf8'), 'SECRET KEY\n');
    assert.equal(modeOf(key), 0o600);

    const m = await cycle(copyAction, { dest, content: 'old\n', mode: '0644' });
    assert.deepEqual(m.p1.commands, [`chmod 0644 -- ${dest}`]);
    await copyAction.undo!(m.ctx, m.r.undo!);
    assert.equal(modeOf(dest), 0o600);
  } finally {
    cleanup();
  }
});

test('copy: local src relative to the runbook, and remote_src', async () => {
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(join(dir, 'rb'));
    writeFileSync(join(dir, 'rb/motd'), 'hello\n');
    const ctx = makeCtx({ runbookDir: join(dir, 'rb') });
    await cycle(copyAction, { dest: join(dir, 'out/motd'), src: 'motd' }, ctx);
    assert.equal(readFileSync(join(dir, 'out/motd'), 'utf8'), 'hello\n');
    await cycle(copyAction, { dest: join(dir, 'kube/config'), remote_src: join(dir, 'rb/motd'), mode: '0600' });
    assert.equal(readFileSync(join(dir, 'kube/config'), 'utf8'), 'hello\n');
    assert.equal(modeOf(join(dir, 'kube/config')), 0o600);
    await assert.rejects(copyAction.probe(makeCtx(), { dest: join(dir, 'x'), remote_src: join(dir, 'missing') }), /does not exist/);
  } finally {
    cleanup();
  }
});

test('move: change / ok / missing_ok / both present; undo moves back', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const src = join(dir, 'pki/apiserver.crt');
    const dest = join(dir, 'backup/moved/apiserver.crt');
    mkdirSync(join(dir, 'pki'));
    writeFileSync(src, 'cert');
    const { p1, r, ctx } = await cycle(moveAction, { src, dest });
    assert.deepEqual(p1.commands, [`mkdir -p -- ${join(dir, 'backup/moved')}`, `mv -T -- ${src} ${dest}`]);
    assert.equal(readFileSync(dest, 'utf8'), 'cert');
    await moveAction.undo!(ctx, r.undo!);
    assert.equal(readFileSync(src, 'utf8'), 'cert');
    assert.equal(existsSync(dest), false);
    assert.equal(existsSync(join(dir, 'backup')), false, 'the directories the move made for dest go with it');

    await assert.rejects(moveAction.probe(ctx, { src: join(dir, 'n1'), dest: join(dir, 'n2') }), /neither/);
    assert.equal((await moveAction.probe(ctx, { src: join(dir, 'n1'), dest: join(dir, 'n2'), missing_ok: true })).status, 'ok');
    writeFileSync(join(dir, 'x'), '1');
    writeFileSync(join(dir, 'y'), '2');
    await assert.rejects(moveAction.probe(ctx, { src: join(dir, 'x'), dest: join(dir, 'y') }), /both .* exist/);

    // a directory moves too
    mkdirSync(join(dir, 'dir1/inner'), { recursive: true });
    await cycle(moveAction, { src: join(dir, 'dir1'), dest: join(dir, 'dir2') });
    assert.ok(existsSync(join(dir, 'dir2/inner')));
  } finally {
    cleanup();
  }
});
