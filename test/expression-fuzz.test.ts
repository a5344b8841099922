/**
 * Property tests for the expression language: generated CEL expressions (from a small grammar
 * over the runbook's names, functions and operators) and random token soup, fed to the static
 * checker, the evaluator and templates, and embedded in runbooks for the loader. Only UserErrors
 * (kind expression / undefined-variable) or positioned problems may come out: never another
 * exception, never a problem without a position. FUZZ_RUNS sets the count (default 10,000).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';
import { isUserError } from '../src/errors.js';
import { checkExpression, evaluate, parseTemplate, renderTemplate, type Scope } from '../src/runbook/expressions.js';
import { loadRunbookText } from '../src/runbook/load.js';

const runs = Number(process.env.FUZZ_RUNS ?? 10_000);

/** RELIABILITY_OUT=file: one JSON line per property that held (scripts/reliability.mjs reads them). */
function recordFuzz(what: string, tries: number): void {
  const out = process.env.RELIABILITY_OUT;
  if (out) appendFileSync(out, JSON.stringify({ suite: 'fuzz', case: what, tries, survived: tries, bytesLost: 0 }) + '\n');
}

const SCOPE: Scope = {
  n: 3,
  big: 9007199254740991,
  f: 2.5,
  s: 'kube-apiserver.crt',
  v: 'v1.28.3',
  b: true,
  nul: null,
  xs: [1, 2, 3],
  names: ['apiserver', 'etcd', ''],
  m: { a: 1, nested: { k: 'v' }, 'odd key': [] },
  result: { changed: true, failed: false, stdout: 'Server Version: v1.28.3\n', rc: 0 },
  host: { name: 'cp-1', address: '127.0.0.1', port: 22, groups: ['control_plane'] },
  item: 'apiserver',
};
const NAMES = Object.keys(SCOPE);

const ident = fc.constantFrom(...NAMES, 'undefined_name', 'kube_dri', 'size', 'has', 'in', 'null', 'true');
const strLit = fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s));
const literal = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc.constantFrom('0', '-0', '9223372036854775807', '9223372036854775808', '18446744073709551615u', '1u', '0x1F', '1e308', '1.5', '.5', 'NaN'),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => String(d)),
  strLit,
  fc.constantFrom('true', 'false', 'null', "'single'", '"\\n\\t\\u00e9"', 'b"bytes"', 'r"raw\\d"', '"""triple"""', '""'),
);
const FUNCS = ['size', 'string', 'int', 'double', 'type', 'basename', 'dirname', 'changed', 'failed', 'duration_days', 'version_minor'];
const FUNCS2 = ['version_at_least', 'version_below'];
const METHODS = ['contains', 'startsWith', 'endsWith', 'split', 'join', 'size'];
const SAFE_REGEX = ['"^v1\\\\.2[0-9]"', '"a+"', '"[a-z]*"', '"("'];

const { expr } = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    literal,
    ident,
    fc.tuple(tie('expr'), fc.constantFrom('.changed', '.stdout', '.name', '.nested', '.k', '.missing', '[0]', '[5]', '["a"]', '[-1]', '["odd key"]')).map(([e, m]) => `${e}${m}`),
    fc.tuple(fc.constantFrom(...FUNCS), tie('expr')).map(([f, a]) => `${f}(${a})`),
    fc.tuple(fc.constantFrom(...FUNCS2), tie('expr'), tie('expr')).map(([f, a, b]) => `${f}(${a}, ${b})`),
    fc.tuple(tie('expr'), fc.constantFrom(...METHODS), fc.array(tie('expr'), { maxLength: 2 })).map(([e, m, as]) => `${e}.${m}(${as.join(', ')})`),
    fc.tuple(tie('expr'), fc.constantFrom(...SAFE_REGEX)).map(([e, r]) => `${e}.matches(${r})`),
    fc.tuple(tie('expr'), fc.constantFrom('+', '-', '*', '/', '%', '==', '!=', '<', '<=', '>', '>=', '&&', '||', 'in'), tie('expr')).map(([a, op, b]) => `${a} ${op} ${b}`),
    fc.tuple(fc.constantFrom('!', '-', '!!', '--'), tie('expr')).map(([op, e]) => `${op}${e}`),
    fc.tuple(tie('expr'), tie('expr'), tie('expr')).map(([c, a, b]) => `${c} ? ${a} : ${b}`),
    tie('expr').map((e) => `(${e})`),
    fc.array(tie('expr'), { maxLength: 3 }).map((xs) => `[${xs.join(', ')}]`),
    fc.array(fc.tuple(tie('expr'), tie('expr')), { maxLength: 2 }).map((kv) => `{${kv.map(([k, v]) => `${k}: ${v}`).join(', ')}}`),
    fc.tuple(fc.constantFrom('xs', 'names', 'm', 's'), fc.constantFrom('all', 'exists', 'exists_one', 'map', 'filter'), tie('expr')).map(([l, mac, e]) => `${l}.${mac}(x, ${e})`),
    fc.tuple(fc.constantFrom('has'), fc.constantFrom('m.a', 'm.zz', 'result.rc', 's', 'xs[0]')).map(([f, a]) => `${f}(${a})`),
  ),
}));

/** Token soup: what a typo or a fuzzed file could put in an expression. */
const TOKENS = ['(', ')', '[', ']', '{', '}', '.', ',', ':', '?', '!', '&&', '||', '==', '+', '-', '"', "'", '\\', '`', '$', '{{', '}}', ' ', '\n', 'x', 'n', '1', '1.0', 'size', 'in', 'has', '\u0000', '\u00e9', '\ud83d\ude00', '\ud800'];
const soup = fc.array(fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 3 })), { maxLength: 12 }).map((ts) => ts.join(''));
const anyExpr = fc.oneof({ weight: 3, arbitrary: expr }, { weight: 1, arbitrary: soup });

function onlyUserErrors(f: () => unknown, src: string): void {
  try {
    f();
  } catch (e) {
    assert.ok(isUserError(e), `not a UserError for ${JSON.stringify(src)}: ${e instanceof Error ? e.stack : String(e)}`);
    assert.ok(e.kind === 'expression' || e.kind === 'undefined-variable', `kind ${e.kind}`);
    assert.ok(e.message.length > 0 && !/\n\s+at /.test(e.message), e.message);
  }
}

test('generated expressions: the checker gives a positioned problem or none; evaluation gives a value or a UserError', () => {
  fc.assert(
    fc.property(anyExpr, (src) => {
      const p = checkExpression(src, NAMES);
      if (p) {
        assert.ok(Number.isInteger(p.offset) && p.offset >= 0 && p.offset <= src.length, `offset ${p.offset} of ${src.length}: ${p.message}`);
        assert.ok(p.message.length > 0);
      }
      const syntax = checkExpression(src);
      if (syntax) assert.ok(Number.isInteger(syntax.offset) && syntax.offset >= 0);
      onlyUserErrors(() => evaluate(src, SCOPE), src);
    }),
    { numRuns: runs, seed: 17 },
  );
  recordFuzz('generated expressions: the checker gives a positioned problem or none; evaluation gives a value or a UserError', runs);
});

test('generated templates render or fail with a UserError; parse errors carry an offset', () => {
  const template = fc.array(fc.oneof(fc.string({ maxLength: 6 }), anyExpr.map((e) => `{{ ${e} }}`), fc.constantFrom('{{', '}}', '{{}}', '{{ {{ n }} }}')), { maxLength: 4 }).map((ps) => ps.join(''));
  fc.assert(
    fc.property(template, (t) => {
      const { error } = parseTemplate(t);
      if (error) assert.ok(Number.isInteger(error.offset) && error.offset >= 0 && error.offset <= t.length);
      onlyUserErrors(() => renderTemplate(t, SCOPE), t);
    }),
    { numRuns: Math.ceil(runs / 2), seed: 19 },
  );
  recordFuzz('generated templates render or fail with a UserError; parse errors carry an offset', Math.ceil(runs / 2));
});

test('runbooks with generated expressions in when:, templates and assert: every diagnostic has a position', () => {
  fc.assert(
    fc.property(anyExpr, anyExpr, (when, tpl) => {
      const text = [
        'apiVersion: runbook/v1',
        'name: fuzz',
        'hosts: all',
        'vars:',
        '  n: 3',
        `  t: ${JSON.stringify(`{{ ${tpl} }}`)}`,
        'steps:',
        '  - name: one',
        `    command: { argv: [echo, ${JSON.stringify(`x{{ ${tpl} }}`)}], changed_when: false }`,
        `    when: ${JSON.stringify(when)}`,
        '  - name: two',
        `    assert: { that: [${JSON.stringify(when)}] }`,
        '',
      ].join('\n');
      const lines = text.split('\n').length;
      const r = loadRunbookText(text, 'fuzz-expr.yaml');
      for (const d of r.diagnostics) {
        assert.ok(Number.isInteger(d.line) && d.line! >= 1 && d.line! <= lines, `line ${d.line}: ${d.message}`);
        assert.ok(Number.isInteger(d.col) && d.col! >= 1, `col ${d.col}: ${d.message}`);
      }
      if (!r.runbook) assert.ok(r.diagnostics.some((d) => d.severity === 'error'));
    }),
    { numRuns: Math.ceil(runs / 5), seed: 23 },
  );
  recordFuzz('runbooks with generated expressions in when:, templates and assert: every diagnostic has a position', Math.ceil(runs / 5));
});

test('found by fuzzing: a variable named like a CEL reserved word (`as`, `if`) is a positioned diagnostic, not a crash', () => {
  const r = loadRunbookText('apiVersion: runbook/v1\nname: x\nhosts: all\nvars:\n  as: 1\n  if: 2\nsteps:\n  - name: a\n    command: { argv: [echo, "{{ as }}"], changed_when: false }\n', 'reserved.yaml');
  assert.equal(r.runbook, undefined);
  assert.deepEqual(r.diagnostics.map((d) => [d.line, d.col]), [[9, 33]]);
  assert.match(r.diagnostics[0]!.message, /Reserved identifier: as/);
});
