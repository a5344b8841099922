import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { applyPatch } from 'diff';
import { contentDiff, DIFF_TEXT_LIMIT, finishDiff, modeChange, ownerChange, sizeText, type ContentSide } from './diff.js';
import { diffLines } from '../report/diff-render.js';
import { Redactor } from '../runbook/vars.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const side = (text: string | Buffer, mode = 0o644): ContentSide => {
  const data = typeof text === 'string' ? Buffer.from(text) : text;
  return { exists: true, data, size: data.length, sha256: sha(data), mode };
};
const plain = { redact: (t: string) => t, hideRemoved: false };

test('a text change is a unified diff with the path in the headers and 3 lines of context', () => {
  const before = 'a\nb\nc\nd\ne\nf\ng\nh\n';
  const after = 'a\nb\nc\nd\nE\nf\ng\nh\n';
  const d = contentDiff('/etc/app.conf', side(before), side(after), plain);
  assert.equal(d.content, undefined);
  assert.equal(d.unified, ['--- /etc/app.conf', '+++ /etc/app.conf', '@@ -2,7 +2,7 @@', ' b', ' c', ' d', '-e', '+E', ' f', ' g', ' h'].join('\n'));
});

test('a new file diffs from /dev/null; the same content gives no diff', () => {
  const d = contentDiff('/etc/new', { exists: false }, side('x\ny\n'), plain);
  assert.equal(d.unified, ['--- /dev/null', '+++ /etc/new', '@@ -0,0 +1,2 @@', '+x', '+y'].join('\n'));
  assert.deepEqual(contentDiff('/etc/same', side('x\n'), side('x\n'), plain), {});
});

test('secrets are redacted before diffing, a multi-line secret too; a step writing a secret hides its removed lines', () => {
  const r = new Redactor(['hunter2', 'line1\nline2']);
  const req = { redact: (t: string) => r.redact(t), hideRemoved: false };
  const d = contentDiff('/etc/db.conf', side('user=app\npassword=old\n'), side('user=app\npassword=hunter2\nkey=line1\nline2\n'), req);
  assert.ok(!d.unified!.includes('hunter2') && !d.unified!.includes('line2'), d.unified);
  assert.match(d.unified!, /^\+password=\*\*\*$/m);
  assert.match(d.unified!, /^\+key=\*\*\*$/m);
  assert.match(d.unified!, /^-password=old$/m);
  const hidden = contentDiff('/etc/db.conf', side('user=app\npassword=old\n'), side('user=app\npassword=hunter2\n'), { ...req, hideRemoved: true });
  assert.ok(!hidden.unified!.includes('old'), hidden.unified);
  assert.match(hidden.unified!, /^-\*\*\* \(previous line hidden: the step writes a secret\)$/m);
  assert.match(hidden.unified!, /^--- \/etc\/db.conf$/m);
});

test('binary, large and private files are summarised, never shown', () => {
  const bin = contentDiff('/usr/bin/x', side(Buffer.alloc(12 * 1024, 0)), side(Buffer.alloc(14 * 1024, 1).fill(0, 5, 6)), plain);
  assert.deepEqual(bin, { content: 'binary, 12 KiB → 14 KiB' });
  const latin1 = contentDiff('/etc/l1', side('caf\xe9\n'), side(Buffer.from([0x63, 0xe9, 0x0a])), plain);
  assert.match(latin1.content!, /^binary/);
  const big: ContentSide = { exists: true, size: 2 * 1024 * 1024, sha256: 'a'.repeat(64), mode: 0o644 };
  const large = contentDiff('/var/big', big, { ...big, sha256: 'b'.repeat(64), size: DIFF_TEXT_LIMIT + 1 }, plain);
  assert.equal(large.content, `large file (over 64 KiB): 2.0 MiB → 64 KiB, sha256 aaaaaaaaaaaa… → bbbbbbbbbbbb…`);
  const key = contentDiff('/etc/kubernetes/pki/ca.key', side('-----BEGIN KEY-----\nold\n', 0o600), side('-----BEGIN KEY-----\nnew\n', 0o600), plain);
  assert.match(key.content!, /^private file \(mode 0600\): content not shown, 24 B → 24 B, sha256 [0-9a-f]{12}… → [0-9a-f]{12}…$/);
  assert.equal(key.unified, undefined);
  // made private by the write: the new content is not shown either
  assert.match(contentDiff('/etc/x', side('a\n'), side('b\n', 0o640), plain).content!, /^private file \(mode 0640\)/);
});

test('mode and owner changes; nothing to show is no diff', () => {
  assert.equal(modeChange(0o644, 0o600), '0644 → 0600');
  assert.equal(modeChange(undefined, 0o644), 'none → 0644');
  assert.equal(modeChange(0o644, 0o644), undefined);
  assert.equal(ownerChange({ uid: 0, gid: 0 }, 'kube', undefined, true), '0:0 → kube:0');
  assert.equal(ownerChange({ uid: 0, gid: 0, user: 'root', group: 'root' }, 'kube', 'kube', true), 'root:root → kube:kube');
  assert.equal(ownerChange({ uid: 0, gid: 0 }, 'kube', 'kube', false), undefined);
  assert.equal(finishDiff({ path: '/x', mode: undefined }), undefined);
  assert.deepEqual(finishDiff({ path: '/x', mode: '0644 → 0600', owner: undefined }), { path: '/x', mode: '0644 → 0600' });
  assert.equal(sizeText(1023), '1023 B');
});

test('rendering: header, facts, then the unified diff, each line padded (no colour off a terminal)', () => {
  const lines = diffLines({ path: '/etc/app.conf', mode: '0644 → 0600', unified: '--- /etc/app.conf\n+++ /etc/app.conf\n@@ -1 +1 @@\n-a\n+b' }, '  ');
  assert.deepEqual(lines, ['  diff /etc/app.conf', '  │ mode: 0644 → 0600', '  --- /etc/app.conf', '  +++ /etc/app.conf', '  @@ -1 +1 @@', '  -a', '  +b']);
  assert.deepEqual(diffLines({ path: '/bin/x', content: 'binary, 1 KiB → 2 KiB' }, ''), ['diff /bin/x', '│ content: binary, 1 KiB → 2 KiB']);
});

test('property: the unified diff, applied to the old text, gives the new text (what the operator reads is what would be written)', () => {
  const line = fc.stringMatching(/^[a-z =]{0,6}$/);
  const text = fc.array(line, { maxLength: 12 }).map((ls) => ls.join('\n'));
  fc.assert(
    fc.property(text, text, fc.boolean(), (before, after, newline) => {
      const b = before + (newline ? '\n' : '');
      const a = after + '\n';
      const d = contentDiff('/f', side(b), side(a), plain);
      if (b === a) return d.unified === undefined;
      assert.equal(applyPatch(b, d.unified!), a);
      return true;
    }),
    { numRuns: 300 },
  );
});
