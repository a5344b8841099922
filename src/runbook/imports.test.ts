import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRunbookFile } from './load.js';

test("copy.src in an imported fragment resolves against the fragment's directory, not the runbook's", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-imports-'));
  try {
    mkdirSync(join(dir, 'shared', 'deeper'), { recursive: true });
    writeFileSync(join(dir, 'shared', 'deeper', 'inner.yaml'), '- name: Inner copy\n  copy: { dest: /tmp/b, src: files/b.conf }\n');
    writeFileSync(
      join(dir, 'shared', 'app.yaml'),
      'steps:\n  - name: Fragment copy\n    copy: { dest: /tmp/a, src: files/a.conf }\n  - name: Nested\n    import: deeper/inner.yaml\nhandlers:\n  - name: Handler copy\n    copy: { dest: /tmp/h, src: files/h.conf }\n',
    );
    const file = join(dir, 'rb.yaml');
    writeFileSync(file, 'apiVersion: runbook/v1\nname: t\nhosts: all\nsteps:\n  - name: Own copy\n    copy: { dest: /tmp/o, src: files/o.conf }\n  - name: App\n    import: shared/app.yaml\n');
    const { runbook, diagnostics } = await loadRunbookFile(file);
    assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
    const dirs = Object.fromEntries([...runbook!.steps, ...runbook!.plays[0]!.handlers].map((s) => [s.name, s.dir ?? runbook!.dir]));
    assert.deepEqual(dirs, {
      'Own copy': dir,
      'Fragment copy': join(dir, 'shared'),
      'Inner copy': join(dir, 'shared', 'deeper'),
      'Handler copy': join(dir, 'shared'),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
