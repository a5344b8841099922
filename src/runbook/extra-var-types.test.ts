import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isUserError } from '../errors.js';
import { loadRunbookFile, loadRunbookText } from './load.js';
import type { LoadedRunbook } from './model.js';
import { extraVarNames, extraVarValues, typeExtraVars } from './extra-var-types.js';
import { booleanOfText, integerOfText, numberOfText } from './scalar-text.js';
import { parseExtraVars } from './vars.js';
import { Literal } from './expressions.js';

const TEXT = `apiVersion: runbook/v1
name: t
secrets: [token, pin]
vars:
  force: false
  port: 6443
  ratio: 1.0
  scale: 2.5
  version: "1.20"
  within: 30d
  templated: "{{ force }}"
  given: null
  names: [a]
  token: null
  pin: 1234
plays:
  - name: one
    hosts: all
    vars:
      verbose: true
      force: "not a boolean here"
    steps:
      - name: s
        assert: { that: "force || !force" }
`;
const rb = loadRunbookText(TEXT, 'rb.yaml').runbook!;

async function typed(runbook: LoadedRunbook, ...args: string[]) {
  return typeExtraVars(runbook, await parseExtraVars(args));
}

test('-e key=value takes the type of a boolean or number default; a string, templated, null or list default keeps the text', async () => {
  const r = await typed(rb, 'force=true', 'port=8443', 'ratio=2', 'scale=-1e3', 'version=1.30', 'within=45d', 'templated=true', 'given=7', 'names=x', 'verbose=OFF', 'other=true');
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.values, { force: true, port: 8443, ratio: 2, scale: -1000, version: '1.30', within: '45d', templated: 'true', given: '7', names: 'x', verbose: false, other: 'true' });
});

test('the boolean spellings: true/false, yes/no, on/off, 1/0 in any case; nothing else', () => {
  for (const t of ['true', 'True', 'TRUE', 'yes', 'Yes', 'on', 'ON', '1']) assert.equal(booleanOfText(t), true, t);
  for (const f of ['false', 'False', 'FALSE', 'no', 'NO', 'off', 'Off', '0']) assert.equal(booleanOfText(f), false, f);
  for (const x of ['', 'y', 'n', 't', 'f', 'maybe', ' true', 'true ', '01', '2']) assert.equal(booleanOfText(x), undefined, JSON.stringify(x));
  assert.deepEqual(['42', '+7', '-0', '007'].map(integerOfText), [42, 7, -0, 7]);
  for (const x of ['1.0', '1e3', '0x10', '', ' 1', '9007199254740993']) assert.equal(integerOfText(x), undefined, x);
  assert.deepEqual(['1.5', '.5', '2.', '-3e-2', '10'].map(numberOfText), [1.5, 0.5, 2, -0.03, 10]);
  for (const x of ['.', 'e3', '1e400', '.inf', 'NaN', '1,5', '1_000']) assert.equal(numberOfText(x), undefined, x);
});

test('text that does not spell the declared type is refused, naming the argument, type, default and where it is declared', async () => {
  const r = await typed(rb, 'force=maybe', 'port=64.5', 'scale=fast');
  assert.deepEqual(
    r.problems.map((d) => [d.kind, d.severity, d.message]),
    [
      ['usage', 'error', '-e force=maybe: force is a boolean in rb.yaml:5:3 (default false): give true or false'],
      ['usage', 'error', '-e port=64.5: port is an integer in rb.yaml:6:3 (default 6443): give a whole number'],
      ['usage', 'error', '-e scale=fast: scale is a number in rb.yaml:8:3 (default 2.5): give a number'],
    ],
  );
  assert.match(r.problems[0]!.hint!, /yes\/no, on\/off and 1\/0/);
});

test('a default written 1.0 declares a number, not an integer', async () => {
  assert.deepEqual((await typed(rb, 'ratio=0.25')).values, { ratio: 0.25 });
});

test('values from -e @file and -e {mapping} keep their YAML types and are checked, never converted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-extra-types-'));
  const file = join(dir, 'over.yaml');
  writeFileSync(file, 'force: "true"\nport: 1.5\nscale: 3\nversion: 1.20\n');
  const r = await typed(rb, `@${file}`, '{"verbose": 1, "ratio": null}');
  assert.deepEqual(
    r.problems.map((d) => d.message),
    [
      `-e @${file}: force is a boolean in rb.yaml:5:3 (default false), not the string "true": write true or false, without quotes`,
      `-e @${file}: port is an integer in rb.yaml:6:3 (default 6443), not the number 1.5: write a whole number`,
      '-e {"verbose": 1, "ratio": null}: verbose is a boolean in rb.yaml:20:7 (default true), not the number 1: write true or false',
      '-e {"verbose": 1, "ratio": null}: ratio is a number in rb.yaml:7:3 (default 1), not null: write a number',
    ],
  );
  // an integer is a number; a string var takes what the file says (YAML's 1.20 is the number 1.2)
  assert.equal(r.values.scale, 3);
  assert.equal(r.values.version, 1.2);
  const ok = await typed(rb, '{"force": true, "port": 22}', 'force=no');
  assert.deepEqual(ok, { values: { force: false, port: 22 }, problems: [] });
});

test("a secret's value and default never appear in a problem", async () => {
  const r = await typed(rb, 'pin=12x4', '{"pin": "98765"}');
  assert.equal(r.problems.length, 1);
  assert.equal(r.problems[0]!.message, '-e {"pin": "***"}: pin is an integer in rb.yaml:15:3 (default ***), not the string "***": write a whole number, without quotes');
  const t = await typed(rb, 'pin=12x4');
  assert.equal(t.problems[0]!.message, '-e pin=***: pin is an integer in rb.yaml:15:3 (default ***): give a whole number');
  // a default from an encrypted vars_file is a Literal (./vars-files.ts): hidden too
  const encrypted: LoadedRunbook = { ...rb, runbook: { ...rb.runbook, vars: { ...rb.runbook.vars, pin: new Literal(4321) } } };
  assert.match((await typed(encrypted, 'pin=x')).problems[0]!.message, /^-e pin=\*\*\*: pin is an integer in rb\.yaml:15:3 \(default \*\*\*\)/);
});

test('a default set by vars_files declares its type at that vars_files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-extra-types-vf-'));
  writeFileSync(join(dir, 'site.yaml'), 'dry: false\n');
  writeFileSync(join(dir, 'rb.yaml'), 'apiVersion: runbook/v1\nname: vf\nhosts: all\nvars_files: [site.yaml]\nsteps:\n  - name: s\n    assert: { that: "!dry" }\n');
  const loaded = (await loadRunbookFile(join(dir, 'rb.yaml'))).runbook!;
  assert.deepEqual((await typed(loaded, 'dry=true')).values, { dry: true });
  assert.equal((await typed(loaded, 'dry=si')).problems[0]!.message, `-e dry=si: dry is a boolean in the vars_files at ${join(dir, 'rb.yaml')}:4:1 (default false): give true or false`);
});

test('resume and rollback: -e as given is typed by the runbook, the first problem thrown', async () => {
  const given = await parseExtraVars(['force=on', 'port=80']);
  assert.deepEqual(extraVarValues(rb, given), { force: true, port: 80 });
  assert.deepEqual(extraVarValues(undefined, given), { force: 'on', port: '80' });
  assert.deepEqual(extraVarValues(rb, undefined), {});
  assert.deepEqual(extraVarNames(given), ['force', 'port']);
  assert.deepEqual(extraVarNames(undefined), []);
  const bad = await parseExtraVars(['force=perhaps']);
  assert.throws(
    () => extraVarValues(rb, bad),
    (e: unknown) => isUserError(e) && e.kind === 'usage' && /^-e force=perhaps: force is a boolean in rb\.yaml:5:3/.test(e.message),
  );
});

test('property: any text for a string-typed or undeclared variable comes through unchanged', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('version', 'within', 'templated', 'given', 'undeclared'), fc.string(), async (name, text) => {
      const r = await typed(rb, `${name}=${text}`);
      assert.deepEqual(r, { values: { [name]: text }, problems: [] });
    }),
  );
});

test('property: a boolean var takes every spelling in any case, and refuses all other text', async () => {
  const spelling = fc.constantFrom('true', 'false', 'yes', 'no', 'on', 'off').chain((w) => fc.array(fc.boolean(), { minLength: w.length, maxLength: w.length }).map((up) => [...w].map((c, i) => (up[i] ? c.toUpperCase() : c)).join('')));
  await fc.assert(
    fc.asyncProperty(spelling, async (text) => {
      const r = await typed(rb, `force=${text}`);
      assert.deepEqual(r, { values: { force: ['true', 'yes', 'on'].includes(text.toLowerCase()) }, problems: [] });
    }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.string().filter((s) => booleanOfText(s) === undefined),
      async (text) => assert.equal((await typed(rb, `force=${text}`)).problems.length, 1),
    ),
  );
});
