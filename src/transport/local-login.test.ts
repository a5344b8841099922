import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { passwdLogin } from './local-login.js';
import { localLogin } from './ssh-config.js';

test('the login is the password database entry of this uid, as id(1) says, and ssh takes the same', () => {
  const id = execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
  assert.equal(passwdLogin(), id);
  assert.equal(passwdLogin(), passwdLogin());
  assert.equal(localLogin(), id);
});
