import { test } from 'node:test';
import assert from 'node:assert/strict';
import { colorWanted } from './colors.js';

test('colour only on a terminal; CI alone does not turn it on; NO_COLOR wins over FORCE_COLOR', () => {
  assert.equal(colorWanted({ CI: 'true' }, false), false);
  assert.equal(colorWanted({}, true), true);
  assert.equal(colorWanted({ TERM: 'dumb' }, true), false);
  assert.equal(colorWanted({ NO_COLOR: '1' }, true), false);
  assert.equal(colorWanted({ FORCE_COLOR: '1' }, false), true);
  assert.equal(colorWanted({ FORCE_COLOR: '0' }, true), false);
  assert.equal(colorWanted({ NO_COLOR: '1', FORCE_COLOR: '1' }, true), false);
});
