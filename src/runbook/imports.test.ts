import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRunbookFile } from './load.js';

test("copy.src in an imported fragment resolves against the fragment's directory, not the runbook's; each step knows the file, line and column it is written at", async () => {
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
    // where each step is written, for run-time messages: in its own file
    const at = Object.fromEntries([...runbook!.steps, ...runbook!.plays[0]!.handlers].map((s) => [s.name, s.at]));
    assert.deepEqual(at, {
      'Own copy': `${file}:5:5`,
      'Fragment copy': `${join(dir, 'shared', 'app.yaml')}:2:5`,
      'Inner copy': `${join(dir, 'shared', 'deeper', 'inner.yaml')}:1:3`,
      'Handler copy': `${join(dir, 'shared', 'app.yaml')}:7:5`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
