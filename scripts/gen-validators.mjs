#!/usr/bin/env node
// Precompiles each schema into a standalone ajv validator (dist/schemas/<name>.accept.cjs) so that
// loading a VALID runbook does not pay ajv's compile (~70 ms on every CLI start). It only answers
// "valid or not": on "not", src/runbook/schema-check.ts compiles the full schema for positioned,
// explained diagnostics. Each file records the sha256 of the schema it was made from and is
// ignored when the schema changed since. Run by `npm run build`.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Ajv2020 = require('ajv/dist/2020.js');
const standaloneCode = require('ajv/dist/standalone').default;

mkdirSync('dist/schemas', { recursive: true });
for (const name of ['runbook', 'inventory']) {
  const text = readFileSync(`schemas/${name}.schema.json`, 'utf8');
  const ajv = new Ajv2020({ allErrors: false, strict: false, code: { source: true } });
  const validate = ajv.compile(JSON.parse(text));
  const sha256 = createHash('sha256').update(text).digest('hex');
  writeFileSync(`dist/schemas/${name}.accept.cjs`, `${standaloneCode(ajv, validate)}\nmodule.exports.schemaSha256 = ${JSON.stringify(sha256)};\n`);
}
