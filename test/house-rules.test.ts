// The rules `npm run lint` enforces that need a word of their own: which files may exceed the
// 600-line limit (only generated ones, and only those the generator writes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
