import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRunbookText } from './load.js';
import { hostScope, parseExtraVars, Redactor, secretValues } from './vars.js';
import type { HostEntry } from '../inventory/types.js';

const rb = loadRunbookText(
  `apiVersion: runbook/v1
name: t
hosts: all
secrets: [token]
vars:
  a: runbook
  b: runbook
  c: runbook
  d: "{{ a }}-{{ host.name }}"
  token: null
steps:
  - name: s
    assert: { that: "d != ''" }
`,
  'rb.yaml',
).runbook!;

const host: HostEntry = { name: 'cp1', address: '127.0.0.1', port: 22, become: false, connection: 'ssh', groups: ['all'], vars: { b: 'inventory', c: 'inventory' } };

test('precedence: runbook vars < inventory < -e; runbook vars may use templates', async () => {
  const extra = await parseExtraVars(['c=cli', 'token=s3cr3t']);
  const scope = hostScope(rb, host, extra, { id: 'r1', dry_run: true });
  assert.equal(scope.a, 'runbook');
  assert.equal(scope.b, 'inventory');
  assert.equal(scope.c, 'cli');
  assert.equal(scope.d, 'runbook-cp1');
  assert.deepEqual(scope.run, { id: 'r1', dry_run: true, runbook: 't' });
  assert.deepEqual(secretValues(rb, scope), ['s3cr3t']);
});

test('-e @file and bad -e', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-vars-'));
  writeFileSync(join(dir, 'v.yaml'), 'x: 1\ny: [a]\n');
  assert.deepEqual(await parseExtraVars([`@${join(dir, 'v.yaml')}`, 'x=2']), { x: '2', y: ['a'] });
  await assert.rejects(parseExtraVars(['novalue']), /key=value/);
  await assert.rejects(parseExtraVars(['bad-name=1']), /not a valid variable name/);
});

test('redaction hides every secret in text and values', () => {
  const r = new Redactor(['s3cr3t', 's3']);
  assert.equal(r.redact('pw=s3cr3t and s3'), 'pw=*** and ***');
  assert.deepEqual(r.redactDeep({ argv: ['sudo', 's3cr3t'], n: 1 }), { argv: ['sudo', '***'], n: 1 });
});
