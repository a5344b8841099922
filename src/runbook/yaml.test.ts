import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadYaml, positionOf } from './yaml.js';

test('positions of keys and values, including through anchors and merge keys', () => {
  const text = ['base: &b', '  retries: 3', '  delay: 2s', 'steps:', '  - name: a', '    <<: *b', '    delay: 5s', '  - name: b', '    copy: *b', ''].join('\n');
  const doc = loadYaml(text, 'f.yaml');
  assert.deepEqual(doc.diagnostics, []);
  assert.deepEqual(doc.value, { base: { retries: 3, delay: '2s' }, steps: [{ name: 'a', retries: 3, delay: '5s' }, { name: 'b', copy: { retries: 3, delay: '2s' } }] });
  assert.deepEqual(positionOf(doc, ['steps', 0, 'name']), { line: 5, col: 11 });
  assert.deepEqual(positionOf(doc, ['steps', 0, 'delay'], 'key'), { line: 7, col: 5 });
  // merged key: points at its definition in the anchor
  assert.deepEqual(positionOf(doc, ['steps', 0, 'retries']), { line: 2, col: 12 });
  assert.deepEqual(positionOf(doc, ['steps', 1, 'copy', 'delay']), { line: 3, col: 10 });
  // unknown path: nearest ancestor
  assert.deepEqual(positionOf(doc, ['steps', 1, 'nope', 'deeper']), { line: 8, col: 5 });
});

test('every duplicate key is reported, not just the first', () => {
  const doc = loadYaml('a: 1\nb: 2\na: 3\nb: 4\n', 'f.yaml');
  assert.deepEqual(
    doc.diagnostics.map((d) => `${d.line}:${d.col} ${d.message}`),
    ['3:1 duplicate key `a` (first defined at line 1, column 1)', '4:1 duplicate key `b` (first defined at line 2, column 1)'],
  );
});

test('syntax errors carry line and column; tabs get a hint', () => {
  const doc = loadYaml('a:\n\tb: 1\n', 'f.yaml');
  assert.equal(doc.value, undefined);
  assert.equal(doc.diagnostics[0]?.line, 2);
  assert.match(doc.diagnostics[0]?.hint ?? '', /tabs/);
});
