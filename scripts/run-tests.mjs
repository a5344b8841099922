#!/usr/bin/env node
// Runs every compiled test file under dist/ with node's test runner, two files at a time.
// Node 20's runner does not expand globs, so we list the files ourselves.
// Usage: node scripts/run-tests.mjs [substring-filter ...]   (RUNBOOK_TEST_CONCURRENCY=N: N files at a time)
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

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
// The end-to-end files (minutes each) first, the rest in name order: a long file started last would
// run alone at the end. The runner's API keeps this order (its command line sorts the files).
const e2eFirst = (f) => (f.endsWith('-e2e.test.js') ? 0 : 1);
const selected = files
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort((a, b) => e2eFirst(a) - e2eFirst(b) || (a < b ? -1 : a > b ? 1 : 0));
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// the machine's ansible.cfg and ANSIBLE_* settings would change how runbook connects: tests set their own
for (const k of Object.keys(process.env)) if (k.startsWith('ANSIBLE_')) delete process.env[k];
process.env.ANSIBLE_CONFIG = join(process.cwd(), 'test', 'fixtures', 'ansible-none.cfg');
// each test file runs in a process of its own, which takes its options from here
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --enable-source-maps`.trim();
// Two files at a time (Node's default is one fewer than the cores: one on a two-core machine). Much
// of a lab test is waiting on its hosts, and each test file has a 127.1.X address block of its own.
const concurrency = Number(process.env.RUNBOOK_TEST_CONCURRENCY ?? 2);
const stream = run({ files: selected, concurrency });
stream.on('test:fail', (t) => {
  if (!t.todo) process.exitCode = 1; // as the command line: a todo test may fail
});
stream.compose(spec).pipe(process.stdout);
