#!/usr/bin/env node
// Runs every compiled test file under dist/ with node's test runner.
// Node 20's runner does not expand globs, so we list the files ourselves.
// Usage: node scripts/run-tests.mjs [substring-filter ...]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const filters = process.argv.slice(2);
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.js')) files.push(path);
  }
}
walk('dist');
const selected = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// the machine's ansible.cfg and ANSIBLE_* settings would change how runbook connects: tests set their own
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ANSIBLE_')));
env.ANSIBLE_CONFIG = join(process.cwd(), 'test', 'fixtures', 'ansible-none.cfg');
const result = spawnSync(process.execPath, ['--enable-source-maps', '--test', '--test-reporter=spec', ...selected], {
  stdio: 'inherit',
  env,
});
process.exit(result.status ?? 1);
