import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { packageRoot } from '../src/paths.js';
import { validateCmd } from '../src/cli/validate.js';
import { ACTION_TYPES } from '../src/runbook/model.js';
import { loadSchema } from '../src/runbook/schema-check.js';

test('generated TypeScript types match the JSON Schemas', () => {
  const r = spawnSync(process.execPath, ['scripts/gen-types.mjs', '--check'], { cwd: packageRoot, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('every action type has a sub-schema with a description, and the schema knows no others', () => {
  const schema = loadSchema('runbook').schema as { $defs: { step: { properties: Record<string, { $ref?: string }> } } & Record<string, { description?: string }> };
  const stepProps = schema.$defs.step.properties;
  const actions = Object.entries(stepProps).filter(([, v]) => v.$ref?.endsWith('Params')).map(([k]) => k);
  assert.deepEqual(actions.sort(), [...ACTION_TYPES].sort());
  for (const a of actions) {
    const def = stepProps[a]!.$ref!.split('/').pop()!;
    assert.ok(schema.$defs[def]?.description, `${def} has a description`);
  }
});

test('every shipped runbook and example validates, and names its schema for editors', async () => {
  const files = ['runbooks', 'examples'].flatMap((d) => readdirSync(join(packageRoot, d)).filter((n) => n.endsWith('.yaml')).map((n) => relative(process.cwd(), join(packageRoot, d, n))));
  assert.ok(files.length >= 2);
  const r = await validateCmd({ files, inventory: relative(process.cwd(), join(packageRoot, 'examples', 'inventory.yaml')) });
  assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'error'), []);
  assert.equal(r.exitCode, 0);
  const { readFileSync } = await import('node:fs');
  for (const f of files) assert.match(readFileSync(f, 'utf8'), /^# yaml-language-server: \$schema=\.\.\/schemas\/(runbook|inventory)\.schema\.json/m, f);
});

test('the CLI: exit 0 when valid, 3 with file:line:col when not, --json is machine-readable', () => {
  const cli = join(packageRoot, 'dist', 'src', 'cli', 'main.js');
  const ok = spawnSync(process.execPath, [cli, 'validate', 'examples/motd.yaml'], { cwd: packageRoot, encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  const bad = spawnSync(process.execPath, [cli, 'validate', 'test/corpus/runbooks/bad-duration.yaml'], { cwd: packageRoot, encoding: 'utf8' });
  assert.equal(bad.status, 3);
  assert.match(bad.stderr, /^test\/corpus\/runbooks\/bad-duration\.yaml:6:36: /m);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
  const json = spawnSync(process.execPath, [cli, 'validate', '--json', 'test/corpus/runbooks/bad-duration.yaml'], { cwd: packageRoot, encoding: 'utf8' });
  const parsed = JSON.parse(json.stdout) as { valid: boolean; diagnostics: { line: number; col: number; kind: string }[] };
  assert.equal(parsed.valid, false);
  assert.deepEqual([parsed.diagnostics[0]!.line, parsed.diagnostics[0]!.col, parsed.diagnostics[0]!.kind], [6, 36, 'schema']);
  const missing = spawnSync(process.execPath, [cli, 'validate', 'nope.yaml'], { cwd: packageRoot, encoding: 'utf8' });
  assert.equal(missing.status, 3);
  assert.match(missing.stderr, /no such file: nope\.yaml/);
});

test('the precompiled accept-only validators exist and agree with the full schema on every corpus and shipped file', async () => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { load } = await import('js-yaml');
  const { packageRoot } = await import('../src/paths.js');
  const { quickAccept } = await import('../src/runbook/schema-check.js');
  for (const kind of ['runbook', 'inventory'] as const) {
    const quick = quickAccept(kind);
    assert.ok(quick, `dist/schemas/${kind}.accept.cjs is missing or stale: npm run build makes it`);
    const full = loadSchema(kind).validate;
    const dirs = kind === 'runbook' ? ['test/corpus/runbooks', 'runbooks', 'bench/fixtures'] : ['test/corpus/inventories', 'examples'];
    let n = 0;
    for (const d of dirs) {
      for (const f of readdirSync(join(packageRoot, d)).filter((x) => x.endsWith('.yaml'))) {
        let value: unknown;
        try {
          value = load(readFileSync(join(packageRoot, d, f), 'utf8'));
        } catch {
          continue; // YAML errors never reach the schema
        }
        assert.equal(quick(value), full(value), `${d}/${f}: the precompiled and the full validator disagree`);
        n++;
      }
    }
    assert.ok(n >= 5, `only ${n} ${kind} files checked`);
  }
});
