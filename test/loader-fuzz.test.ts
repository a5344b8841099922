/**
 * Property tests: random mutations of valid runbooks and inventories, and random YAML, fed to
 * the loaders. They may only ever return diagnostics (each with a position) — never throw.
 * FUZZ_RUNS sets the count: 10,000 by default, so every CI run (npm test) tries 10,000 runbooks and
 * 10,000 inventories (about 10 s on CI's 2 cores).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';
import { packageRoot } from '../src/paths.js';
import { loadRunbookText } from '../src/runbook/load.js';
import { loadInventoryText } from '../src/inventory/load.js';
import type { Diagnostic } from '../src/errors.js';

const runs = Number(process.env.FUZZ_RUNS ?? 10_000);

/** RELIABILITY_OUT=file: one JSON line per property that held (scripts/reliability.mjs reads them). */
function recordFuzz(what: string, tries: number): void {
  const out = process.env.RELIABILITY_OUT;
  if (out) appendFileSync(out, JSON.stringify({ suite: 'fuzz', case: what, tries, survived: tries, bytesLost: 0 }) + '\n');
}
const seeds = [join(packageRoot, 'examples'), join(packageRoot, 'runbooks')]
  .flatMap((dir) => readdirSync(dir).filter((n) => n.endsWith('.yaml')).map((n) => join(dir, n)))
  .map((f) => readFileSync(f, 'utf8'));
const runbookSeeds = seeds.filter((s) => s.includes('apiVersion:'));
const inventorySeeds = seeds.filter((s) => !s.includes('apiVersion:'));

const FRAGMENTS = ['{{', '}}', '{{ x }}', ':', '- ', '\t', '  ', '"', "'", '&a', '*a', '<<: *a', '---', '#', '\n', '[', ']', '{', '}', 'when: ', 'steps:', 'name: x', 'command: [ls]', '%', '!!str', '?', '|', '>', '@', '`', '\\', '\u00e9', '\ufeff', '0x1F', '.inf', 'null', '~'];

/** An edit to a source text: delete, insert a fragment, duplicate or swap lines. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 8 })) }),
  fc.record({ kind: fc.constant('dupline' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swaplines' as const), at: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(text: string, ms: Mutation[]): string {
  let t = text;
  for (const m of ms) {
    const at = t.length ? m.at % t.length : 0;
    if (m.kind === 'delete') t = t.slice(0, at) + t.slice(at + m.len);
    else if (m.kind === 'insert') t = t.slice(0, at) + m.text + t.slice(at);
    else {
      const lines = t.split('\n');
      const i = lines.length ? m.at % lines.length : 0;
      if (m.kind === 'dupline') lines.splice(i, 0, lines[i] ?? '');
      else if (i + 1 < lines.length) [lines[i], lines[i + 1]] = [lines[i + 1]!, lines[i]!];
      t = lines.join('\n');
    }
  }
  return t;
}

function assertWellFormed(ds: Diagnostic[], text: string): void {
  const lines = text.split('\n').length;
  for (const d of ds) {
    assert.equal(typeof d.message, 'string');
    assert.ok(d.message.length > 0);
    assert.ok(Number.isInteger(d.line) && d.line! >= 1 && d.line! <= lines + 1, `line ${d.line} of ${lines}: ${d.message}`);
    assert.ok(Number.isInteger(d.col) && d.col! >= 1, `col ${d.col}: ${d.message}`);
    assert.doesNotMatch(d.message, /\n\s+at /);
  }
}

test('mutated runbooks only ever produce positioned diagnostics', () => {
  assert.ok(runbookSeeds.length > 0);
  fc.assert(
    fc.property(fc.constantFrom(...runbookSeeds), fc.array(mutation, { minLength: 1, maxLength: 6 }), (seed, ms) => {
      const text = mutate(seed, ms);
      const r = loadRunbookText(text, 'fuzz.yaml');
      assertWellFormed(r.diagnostics, text);
      if (!r.runbook) assert.ok(r.diagnostics.some((d) => d.severity === 'error'), 'a rejected runbook says why');
    }),
    { numRuns: runs, seed: 7 },
  );
  recordFuzz('mutated runbooks only ever produce positioned diagnostics', runs);
});

test('mutated inventories only ever produce positioned diagnostics', () => {
  fc.assert(
    fc.property(fc.constantFrom(...inventorySeeds), fc.array(mutation, { minLength: 1, maxLength: 6 }), (seed, ms) => {
      const text = mutate(seed, ms);
      const r = loadInventoryText(text, 'fuzz-inventory.yaml');
      assertWellFormed(r.diagnostics, text);
    }),
    { numRuns: runs, seed: 11 },
  );
  recordFuzz('mutated inventories only ever produce positioned diagnostics', runs);
});

test('arbitrary JSON-shaped documents never crash the runbook validator', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
      const text = JSON.stringify(value);
      assertWellFormed(loadRunbookText(text, 'fuzz.json.yaml').diagnostics, text);
      assertWellFormed(loadInventoryText(text, 'fuzz.json.yaml').diagnostics, text);
    }),
    { numRuns: Math.ceil(runs / 3), seed: 13 },
  );
  recordFuzz('arbitrary JSON-shaped documents never crash the runbook validator', Math.ceil(runs / 3));
});

/** Structured inventories: groups, children (cycles too), host ranges (huge and reversed too), vars. */
const hostName = fc.oneof(
  fc.constantFrom('cp1', 'cp[1:3]', 'node[01:10]', 'x[a:c]', 'r[3:1]', 'big[1:99999999]', 'a[1:2]b[1:2]', '[1:2]', 'n[:]', '-dash', 'has space', 'a;b', ''),
  fc.stringMatching(/^[a-z][a-z0-9.-]{0,6}$/),
);
const groupName = fc.oneof(fc.constantFrom('all', 'ungrouped', 'control_plane', 'workers', '1bad', 'with-dash', ''), fc.stringMatching(/^[a-z_][a-z0-9_]{0,5}$/));
const varValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('{{ x }}', 'local', 'ssh', 22, '22', 70000, -1, '127.0.0.1', null));
const vars = fc.dictionary(fc.oneof(fc.constantFrom('ansible_host', 'ansible_port', 'ansible_user', 'ansible_connection', 'ansible_become', 'ansible_ssh_private_key_file', 'runbook_known_hosts'), fc.string({ maxLength: 6 })), varValue, { maxKeys: 4 });
const { group } = fc.letrec<{ group: unknown }>((tie) => ({
  group: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.record(
      {
        hosts: fc.oneof(fc.dictionary(hostName, fc.oneof(fc.constant(null), vars), { maxKeys: 4 }), fc.constant(null), fc.constant('cp1')),
        vars: fc.oneof(vars, fc.constant([])),
        children: fc.oneof(fc.dictionary(groupName, tie('group'), { maxKeys: 3 }), fc.constant(null)),
      },
      { requiredKeys: [] },
    ),
  ),
}));

test('generated inventories only ever produce positioned diagnostics (and huge ranges do not hang)', () => {
  fc.assert(
    fc.property(fc.dictionary(groupName, group, { minKeys: 1, maxKeys: 3 }), (doc) => {
      const text = JSON.stringify(doc, null, 1);
      const r = loadInventoryText(text, 'fuzz-gen-inventory.yaml');
      assertWellFormed(r.diagnostics, text);
    }),
    { numRuns: runs, seed: 29 },
  );
  recordFuzz('generated inventories only ever produce positioned diagnostics (and huge ranges do not hang)', runs);
});

test('found by fuzzing: a huge host range is refused with a positioned diagnostic instead of exhausting memory', () => {
  const text = 'all:\n  hosts:\n    node[1:99999999]:\n';
  const r = loadInventoryText(text, 'big.yaml');
  assert.equal(r.inventory, undefined);
  assert.deepEqual(r.diagnostics.map((d) => [d.line, d.col]), [[3, 5]]);
  assert.match(r.diagnostics[0]!.message, /expands to 99999999 hosts, more than 10000/);
});
