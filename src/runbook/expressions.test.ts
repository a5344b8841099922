import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkExpression, evaluate, evaluateCondition, expandDeep, parseTemplate, readVariables, renderTemplate, unknownNames } from './expressions.js';
import { isUserError } from '../errors.js';

test('templates keep the type of a lone expression and interpolate otherwise', () => {
  const scope = { certs: { expiring: ['apiserver', 'admin.conf'] }, kube_dir: '/etc/kubernetes', n: 3 };
  assert.deepEqual(renderTemplate('{{ certs.expiring }}', scope), ['apiserver', 'admin.conf']);
  assert.equal(renderTemplate('{{ kube_dir }}/pki', scope), '/etc/kubernetes/pki');
  assert.equal(renderTemplate('n={{ n + 1 }}', scope), 'n=4');
  assert.equal(renderTemplate('no templates', scope), 'no templates');
  assert.deepEqual(expandDeep({ a: ['{{ n }}', 'x'], b: { c: '{{ kube_dir }}' } }, scope), { a: [3, 'x'], b: { c: '/etc/kubernetes' } });
});

test('an undefined variable is an error, never an empty string', () => {
  assert.throws(() => renderTemplate('{{ missing }}/x', {}), (e) => isUserError(e) && e.kind === 'undefined-variable' && /missing/.test(e.message));
  assert.throws(() => evaluate('a.b', { a: {} }), (e) => isUserError(e) && e.kind === 'expression');
});

test('only the variables an expression names are converted for it', () => {
  // a value whose conversion throws: reached only by an expression that names it
  const poisoned = Object.defineProperty({}, 'boom', { enumerable: true, get: () => { throw new Error('converted'); } });
  const scope = { certs: { expiring: [] as string[] }, other: poisoned };
  assert.equal(evaluateCondition('size(certs.expiring) == 0', scope), true);
  assert.equal(renderTemplate('{{ "n=" + string(size(certs.expiring)) }}', scope), 'n=0');
  assert.throws(() => evaluate('other.boom', scope), /converted/);
});

test('conditions must be booleans', () => {
  assert.equal(evaluateCondition('size(x) > 0', { x: [1] }), true);
  assert.throws(() => evaluateCondition('"yes"', {}), /must be true or false/);
});

test('a type error on a variable holding "true" or "7" says so, and how to give it typed', () => {
  const hint = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (e) {
      return isUserError(e) ? (e.diagnostic.hint ?? '') : undefined;
    }
    return undefined;
  };
  assert.equal(
    hint(() => evaluate('force || other', { force: 'true', other: false })),
    'force is the string "true": a -e key=value is a string unless the runbook declares force under vars: with a boolean default (force: false); or give it typed: -e \'{"force": true}\'',
  );
  // a condition wants a boolean: "1" is read as one
  assert.match(hint(() => evaluateCondition('flag', { flag: '1' }))!, /^flag is the string "1": .* with a boolean default \(flag: false\); or give it typed: -e '\{"flag": true\}'$/);
  assert.match(hint(() => evaluate('n > 5', { n: '7' }))!, /^n is the string "7": .* with a number default \(n: 0\); or give it typed: -e '\{"n": 7\}'$/);
  // text that spells nothing typed, and other failures, get no such hint
  assert.equal(hint(() => evaluate('name || false', { name: 'cp1' })), '');
  assert.equal(hint(() => evaluate('a.b', { a: {} })), '');
});

test('version and path helpers', () => {
  assert.equal(evaluate('version_at_least("v1.18.20", "1.15")', {}), true);
  assert.equal(evaluate('version_below("v1.11.10", "1.13")', {}), true);
  assert.equal(evaluate('version_minor("v1.30.2")', {}), 30);
  assert.equal(evaluate('duration_days("36h")', {}), 1.5);
  assert.equal(evaluate('basename("/etc/kubernetes/admin.conf")', {}), 'admin.conf');
  assert.equal(evaluate('dirname("/etc/kubernetes/admin.conf")', {}), '/etc/kubernetes');
  assert.equal(evaluate('changed(r)', { r: { changed: true } }), true);
});

test('static checks find syntax errors and unknown names with offsets', () => {
  assert.equal(checkExpression('a && b', ['a', 'b']), undefined);
  const p = checkExpression('a && c', ['a']);
  assert.equal(p?.kind, 'unknown-name');
  assert.equal(p?.name, 'c');
  assert.equal(p?.offset, 5);
  assert.equal(checkExpression('a &&', ['a'])?.kind, 'syntax');
  assert.deepEqual(unknownNames('x + y + z', ['y']), ['x', 'z']);
});

test('templates: unclosed and empty', () => {
  assert.equal(parseTemplate('a {{ b').error?.offset, 2);
  assert.match(parseTemplate('{{ }}').error?.message ?? '', /empty/);
});

test('expressions cannot reach JavaScript', () => {
  for (const src of ['constructor', 'this', 'process.exit(1)', 'globalThis', '"".constructor.constructor("return process")()', 'require("fs")']) {
    assert.throws(() => evaluate(src, {}), (e) => isUserError(e), src);
  }
  assert.throws(() => evaluate('x.constructor', { x: {} }), (e) => isUserError(e));
});

test('property: evaluating any string either returns a value or a UserError', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), fc.dictionary(fc.constantFrom('a', 'b', 'item', 'host'), fc.jsonValue()), (src, scope) => {
      try {
        evaluate(src, scope);
      } catch (e) {
        assert.ok(isUserError(e), `non-user error for ${JSON.stringify(src)}: ${String(e)}`);
      }
      try {
        renderTemplate(`x{{${src}}}y`, scope);
      } catch (e) {
        assert.ok(isUserError(e), `non-user error for template ${JSON.stringify(src)}: ${String(e)}`);
      }
      const p = checkExpression(src, ['a', 'b']);
      if (p) assert.ok(p.offset >= 0 && p.offset <= src.length + 1);
    }),
    { numRuns: 3000, seed: 42 },
  );
});

test('readVariables: the variables an expression reads, from its syntax tree, without the names macros bind', () => {
  const reads = (source: string) => [...readVariables(source)].sort();
  assert.deepEqual(reads("nodes.map(node, node + ':6443')"), ['nodes']);
  assert.deepEqual(reads('items.all(i, i.filter(j, j == i).size() > k)'), ['items', 'k']);
  assert.deepEqual(reads('xs.map(x, x > lo, x + step)'), ['lo', 'step', 'xs']);
  assert.deepEqual(reads('a.exists(v, v == b) || a.exists_one(v, v == c)'), ['a', 'b', 'c']);
  // a bound name shadows a variable only inside the macro: the receiver is the outer one
  assert.deepEqual(reads('x.map(x, x + 1)'), ['x']);
  assert.deepEqual(reads('cel.bind(v, base + v2, v + tail)'), ['base', 'tail', 'v2']);
  assert.deepEqual(reads('cel.bind(v, v, v)'), ['v']);
  // fields, functions, strings and keys are not variables
  assert.deepEqual(reads('has(cfg.port) && size(host.name) > 0 && "inventory_hostname" != basename(path) && {"k": val}.k == w'), ['cfg', 'host', 'path', 'val', 'w']);
  assert.deepEqual(reads('f.?opt.orValue(d)'), ['d', 'f']);
  // an expression that does not parse: every identifier-like word that may be a name
  assert.deepEqual(reads('a +* b.c'), ['a', 'b']);
});
