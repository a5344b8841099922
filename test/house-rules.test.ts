// The rules `npm run lint` enforces that need a word of their own: which files may exceed the
// 600-line limit (only generated ones, and only those the generator writes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../src/paths.js';

test('max-lines exempts only generated files: exactly what scripts/gen-types.mjs writes, each with its banner', async () => {
  const { GENERATED } = (await import(pathToFileURL(join(packageRoot, 'eslint.config.js')).href)) as { GENERATED: string[] };
  const generator = readFileSync(join(packageRoot, 'scripts/gen-types.mjs'), 'utf8');
  const written = [...generator.matchAll(/\['schemas\/[\w.-]+\.json', '([\w/.-]+\.ts)'\]/g)].map((m) => m[1]);
  assert.deepEqual([...GENERATED].sort(), written.sort());
  for (const f of GENERATED) {
    assert.match(readFileSync(join(packageRoot, f), 'utf8'), /^\/\* Generated from the JSON Schema by scripts\/gen-types\.mjs\. Do not edit/, f);
  }
});

// Test files run concurrently (scripts/run-tests.mjs): two that start their lab in the same
// 127.1.X.0/24 block fight over port 22 and fail by the order they happen to start in.
test('every test file starts its lab hosts in a 127.1.X block of its own', () => {
  const files = [...readdirSync(join(packageRoot, 'test')).map((f) => join('test', f)), ...readdirSync(join(packageRoot, 'src'), { recursive: true }).map((f) => join('src', String(f)))].filter((f) => f.endsWith('.test.ts'));
  const owner = new Map<string, string>();
  for (const f of files) {
    const text = readFileSync(join(packageRoot, f), 'utf8');
    for (const m of new Set([...text.matchAll(/firstAddress: '127\.1\.(\d+)\.\d+'/g)].map((x) => x[1]!))) {
      assert.equal(owner.get(m), undefined, `127.1.${m}.x is used by both ${owner.get(m)} and ${f}`);
      owner.set(m, f);
    }
  }
  assert.ok(owner.size >= 10, `found the labs of only ${owner.size} test files`);
});
