/**
 * The broken-input corpus: each file under test/corpus/ has a `.expected` twin holding the exact
 * diagnostics `runbook validate` must print for it (file:line:col: message), no more, no less.
 * Regenerate after an intended wording change with: UPDATE_CORPUS=1 node scripts/run-tests.mjs corpus
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { packageRoot } from '../src/paths.js';
import { formatDiagnostic } from '../src/errors.js';
import { loadRunbookFile } from '../src/runbook/load.js';
import { loadInventoryFile } from '../src/inventory/load.js';
import { validateCmd } from '../src/cli/validate.js';

const corpus = join(packageRoot, 'test', 'corpus');
const update = process.env.UPDATE_CORPUS === '1';

async function diagnosticsFor(kind: 'runbooks' | 'inventories', file: string): Promise<string[]> {
  const rel = relative(packageRoot, file);
  if (kind === 'inventories') return (await loadInventoryFile(rel)).diagnostics.map(formatDiagnostic);
  if (rel.includes('hosts-pattern')) {
    const r = await validateCmd({ files: [rel], inventory: 'examples/inventory.yaml' });
    return r.diagnostics.map(formatDiagnostic);
  }
  return (await loadRunbookFile(rel)).diagnostics.map(formatDiagnostic);
}

// diagnostics name files relative to the repository root, as an operator running from there sees them
process.chdir(packageRoot);
let count = 0;
for (const kind of ['runbooks', 'inventories'] as const) {
  for (const name of readdirSync(join(corpus, kind)).filter((n) => n.endsWith('.yaml')).sort()) {
    count++;
    const file = join(corpus, kind, name);
    test(`${kind}/${name}`, async () => {
      const got = await diagnosticsFor(kind, file);
      const expectedFile = file.replace(/\.yaml$/, '.expected');
      if (update || !existsSync(expectedFile)) writeFileSync(expectedFile, got.join('\n') + '\n');
      const expected = readFileSync(expectedFile, 'utf8').trimEnd().split('\n');
      assert.deepEqual(got, expected);
      assert.ok(got.some((l) => !l.includes(': warning: ')), 'at least one error');
      for (const line of got) {
        assert.match(line, /^test\/corpus\/\S+\.yaml:\d+:\d+: /, 'every diagnostic names file:line:col');
        assert.doesNotMatch(line, /\n\s+at |Error:/, 'no stack trace');
      }
    });
  }
}
test('the corpus has at least 40 cases', () => {
  assert.ok(count >= 40, `only ${count} cases`);
});
