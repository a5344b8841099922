#!/usr/bin/env node
// Generates src/runbook/schema-types.ts and src/inventory/schema-types.ts from schemas/*.json.
// The schemas are the single source of truth; test/schema-types.test.ts fails when these drift.
// Usage: node scripts/gen-types.mjs [--check]
import { compileFromFile } from 'json-schema-to-typescript';
import { readFileSync, writeFileSync } from 'node:fs';

const targets = [
  ['schemas/runbook.schema.json', 'src/runbook/schema-types.ts'],
  ['schemas/inventory.schema.json', 'src/inventory/schema-types.ts'],
];
const banner = '/* Generated from the JSON Schema by scripts/gen-types.mjs. Do not edit: change the schema and run `npm run gen:types`. */';

export async function generate(schemaPath) {
  return compileFromFile(schemaPath, {
    cwd: 'schemas',
    bannerComment: banner,
    additionalProperties: false,
    unreachableDefinitions: true,
    format: true,
  });
}

const check = process.argv.includes('--check');
let drift = false;
for (const [schema, out] of targets) {
  const ts = await generate(schema);
  if (check) {
    let current = '';
    try { current = readFileSync(out, 'utf8'); } catch { /* not generated yet: drift */ }
    if (current !== ts) { console.error(`${out} is out of date with ${schema}: run npm run gen:types`); drift = true; }
  } else {
    writeFileSync(out, ts);
    console.log(`wrote ${out}`);
  }
}
process.exit(drift ? 1 : 0);
