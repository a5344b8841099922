import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { loadRunbookFile, loadRunbookText } from './load.js';
import { playView } from '../engine/play-view.js';
import { validateCmd } from '../cli/validate.js';
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
  const extra = (await parseExtraVars(['c=cli', 'token=s3cr3t'])).values;
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
  assert.deepEqual((await parseExtraVars([`@${join(dir, 'v.yaml')}`, 'x=2'])).values, { x: '2', y: ['a'] });
  await assert.rejects(parseExtraVars(['novalue']), /key=value/);
  await assert.rejects(parseExtraVars(['bad-name=1']), /not a valid variable name/);
});

test('-e {mapping} inline, as Ansible takes it; where each value came from', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-vars-inline-'));
  writeFileSync(join(dir, 'v.yaml'), 'a: true\nb: 1\n');
  const e = await parseExtraVars([`@${join(dir, 'v.yaml')}`, '{"b": 2, "c": [x]}', 'a=yes', ' {d: on}']);
  assert.deepEqual(e.values, { a: 'yes', b: 2, c: ['x'], d: 'on' });
  assert.deepEqual(e.from, { a: { arg: 'a=yes', text: true }, b: { arg: '{"b": 2, "c": [x]}', text: false }, c: { arg: '{"b": 2, "c": [x]}', text: false }, d: { arg: ' {d: on}', text: false } });
  await assert.rejects(parseExtraVars(['{"a": 1']), /-e \{"a": 1: the mapping is not valid YAML/);
  await assert.rejects(parseExtraVars(['{"bad-name": 1}']), /"bad-name" is not a valid variable name/);
  await assert.rejects(parseExtraVars(['[1]']), /expected key=value, @file\.yaml or a \{"key": value\} mapping/);
});

test('redaction hides every secret in text and values', () => {
  const r = new Redactor(['s3cr3t', 's3']);
  assert.equal(r.redact('pw=s3cr3t and s3'), 'pw=*** and ***');
  assert.deepEqual(r.redactDeep({ argv: ['sudo', 's3cr3t'], n: 1 }), { argv: ['sudo', '***'], n: 1 });
});

test('vars_files: a var may template a name set by the vars_files of its level (validate and run agree); precedence unchanged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-vars-files-'));
  writeFileSync(join(dir, 'site.yaml'), 'who: world\nport: 8443\nurl: "https://{{ fqdn }}:{{ port }}"\n');
  writeFileSync(join(dir, 'play.yaml'), 'suffix: eu\n');
  writeFileSync(
    join(dir, 'rb.yaml'),
    `apiVersion: runbook/v1
name: vf
vars:
  greeting: "hello {{ who }}"
  who: nobody
  fqdn: "{{ host.name }}.example"
  endpoint: "{{ url }}/healthz"
vars_files: [site.yaml]
plays:
  - name: one
    hosts: all
    vars:
      region: "{{ host.name }}-{{ suffix }}"
    vars_files: [play.yaml]
    steps:
      - name: s
        assert: { that: "greeting == 'hello world' && region != ''" }
`,
  );
  const { runbook, diagnostics } = await loadRunbookFile(join(dir, 'rb.yaml'));
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const scope = hostScope(playView(runbook!, runbook!.plays[0]!), host, {}, { id: 'r1', dry_run: true });
  // the file's `who` wins over `vars:` (runbook vars < runbook vars_files) and the template sees it
  assert.equal(scope.greeting, 'hello world');
  // a file's value may template a var, and a var a file's value: each is expanded after what it names
  assert.equal(scope.url, 'https://cp1.example:8443');
  assert.equal(scope.endpoint, 'https://cp1.example:8443/healthz');
  // play level: the play's vars see its vars_files
  assert.equal(scope.region, 'cp1-eu');
  // inventory and -e still win, and templates see the winning value
  assert.equal(hostScope(playView(runbook!, runbook!.plays[0]!), host, { who: 'cli' }, { id: 'r1', dry_run: true }).greeting, 'hello cli');
});

test("a play's vars may name the play's vars declared after them, as the runbook's may; a cycle among them is still an error", () => {
  const text = (vars: string) => `apiVersion: runbook/v1\nname: t\nvars:\n  r: runbook\nplays:\n  - name: one\n    hosts: all\n    vars:\n${vars}    steps:\n      - name: s\n        assert: { that: "true" }\n  - name: two\n    hosts: all\n    steps:\n      - name: s\n        assert: { that: "true" }\n`;
  const ok = loadRunbookText(text('      p: "{{ q }}-{{ r }}"\n      q: "{{ host.name }}"\n'), 'rb.yaml');
  assert.deepEqual(ok.diagnostics.filter((d) => d.severity === 'error'), []);
  assert.equal(hostScope(playView(ok.runbook!, ok.runbook!.plays[0]!), host, {}, { id: 'r', dry_run: true }).p, 'cp1-runbook');
  const cycle = loadRunbookText(text('      p: "{{ q }}"\n      q: "{{ p }}"\n'), 'rb.yaml');
  const errors = cycle.diagnostics.filter((d) => d.severity === 'error');
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /cycle/);
  assert.equal(errors[0]!.line, 9);
});

test('runbook vars may name vars declared after them; a cycle is an error naming it, in validate and at run time alike', () => {
  const text = (vars: string) => `apiVersion: runbook/v1\nname: t\nhosts: all\nvars:\n${vars}steps:\n  - name: s\n    assert: { that: "true" }\n`;
  const load = (vars: string) => loadRunbookText(text(vars), 'rb.yaml').runbook!;
  const scope = (vars: string, extra: Record<string, unknown> = {}) => hostScope(load(vars), host, extra, { id: 'r', dry_run: true });
  assert.equal(scope('  x: "{{ y }}-x"\n  y: "{{ z }}-y"\n  z: z\n').x, 'z-y-x');
  const cycle = '  x: "{{ y }}"\n  y: "{{ x }}"\n';
  const errors = (vars: string, known: string[] = []) => loadRunbookText(text(vars), 'rb.yaml', { knownVarNames: known }).diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.col} ${d.message}`);
  assert.deepEqual(errors(cycle), ['5:3 runbook vars refer to each other in a cycle: `x` → `y` → `x`']);
  assert.deepEqual(errors('  p: "{{ p }}/x"\n'), ['5:3 runbook var `p` reads itself, and no builtin (host, inventory_hostname, run), inventory or -e value of that name is there for it to read']);
  // an inventory or -e value breaks the cycle: the var it replaces is not expanded
  assert.deepEqual(errors(cycle, ['y']), []);
  const loaded = loadRunbookText(text(cycle), 'rb.yaml', { knownVarNames: ['y'] }).runbook!;
  assert.equal(hostScope(loaded, host, { y: 'cli' }, { id: 'r', dry_run: true }).x, 'cli');
  assert.throws(() => hostScope(loaded, host, {}, { id: 'r', dry_run: true }), /cycle: `x` → `y` → `x`/);
});

// known: the names validate is told the inventory or -e give (the run's `extra` by default)
const oneHost = (vars: string, extra: Record<string, unknown> = {}, known = Object.keys(extra)) => {
  const loaded = loadRunbookText(`apiVersion: runbook/v1\nname: t\nhosts: all\nvars:\n${vars}steps:\n  - name: s\n    assert: { that: "true" }\n`, 'rb.yaml', { knownVarNames: known });
  const errors = loaded.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.col} ${d.message}`);
  const scope = () => hostScope(loaded.runbook!, host, extra, { id: 'r', dry_run: true });
  return { errors, scope };
};

test('a runbook var that reads a builtin of its own name reads the builtin (as before the dependency order), in validate and at run time', () => {
  const r = oneHost('  fqdn: "{{ inventory_hostname }}"\n  inventory_hostname: "{{ inventory_hostname }}.example.com"\n  host: "{{ host.name }}-x"\n  run: "{{ run.id }}/{{ host }}"\n');
  assert.deepEqual(r.errors, []);
  const s = r.scope();
  assert.equal(s.inventory_hostname, 'cp1.example.com');
  assert.equal(s.host, 'cp1-x');
  // another var reading the name reads the runbook var, whatever the order (the var overrides the builtin)
  assert.equal(s.fqdn, 'cp1.example.com');
  assert.equal(s.run, 'r/cp1-x');
  // an -e value of the name wins: the var is not expanded at all
  const e = oneHost('  p: "{{ p }}/x"\n', { p: 'cli' });
  assert.deepEqual(e.errors, []);
  assert.equal(e.scope().p, 'cli');
  // no builtin and no override of that name: still an error, saying so, in validate and at run time
  const bad = oneHost('  a: b\n  p: "{{ p }}/x"\n');
  assert.deepEqual(bad.errors, ['6:3 runbook var `p` reads itself, and no builtin (host, inventory_hostname, run), inventory or -e value of that name is there for it to read']);
  // (loaded as validate would with a `p` the host then lacks)
  assert.throws(() => oneHost('  a: b\n  p: "{{ p }}/x"\n', {}, ['p']).scope(), /runbook var `p` reads itself/);
});

test('names bound by CEL macros are not var references (no false cycle); what the macro iterates and reads outside still is', () => {
  const r = oneHost('  nodes: [a, b]\n  endpoints: "{{ nodes.map(node, node + \':6443\') }}"\n  node: "{{ endpoints[0] }}"\n  up: "{{ nodes.filter(n, n != node).exists(x, x == \'b\') && nodes.all(m, cel.bind(s, m + \'!\', s.size() == 2)) }}"\n  s: "{{ up }}"\n');
  assert.deepEqual(r.errors, []);
  const s = r.scope();
  assert.deepEqual(s.endpoints, ['a:6443', 'b:6443']);
  assert.equal(s.node, 'a:6443');
  assert.equal(s.up, true);
  assert.equal(s.s, true);
  // the iterated list is still read: a cycle through it is one
  assert.match(oneHost('  xs: "{{ ys.map(v, v) }}"\n  ys: "{{ xs }}"\n').errors.join(), /cycle: `xs` → `ys` → `xs`/);
});

test('validate: an inventory name breaks a cycle only when every host the play runs on sets it, as at run time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-var-cycle-'));
  const rbFile = join(dir, 'rb.yaml');
  writeFileSync(rbFile, 'apiVersion: runbook/v1\nname: t\nhosts: cp\nvars:\n  x: "{{ y }}"\n  y: "{{ x }}"\nsteps:\n  - name: s\n    assert: { that: "true" }\n');
  const inventory = (hosts: string) => {
    const file = join(dir, `inv-${hosts.length}.yaml`);
    writeFileSync(file, `all:\n  children:\n    cp:\n      hosts:\n${hosts}    other:\n      hosts:\n        w1:\n`);
    return file;
  };
  const errorsOf = async (inv: string, extraVars: string[] = []) => (await validateCmd({ files: [rbFile], inventory: inv, extraVars })).diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
  // cp2 does not set y: on cp2 the run fails with the cycle, so validate reports it
  const some = inventory('        cp1: { y: one }\n        cp2:\n');
  assert.deepEqual(await errorsOf(some), ['runbook vars refer to each other in a cycle: `x` → `y` → `x`']);
  // every host of the play sets y (w1, outside the play, need not), or -e does
  assert.deepEqual(await errorsOf(inventory('        cp1: { y: one }\n        cp2: { y: two }\n')), []);
  assert.deepEqual(await errorsOf(some, ['y=cli']), []);
});

test("the runbook's sha256 covers its vars_files (a saved plan or a resumed run notices a changed file); without them it is its text's", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-vf-digest-'));
  const body = 'apiVersion: runbook/v1\nname: t\nhosts: all\nsteps:\n  - name: s\n    set_fact: { y: "{{ x }}" }\n';
  writeFileSync(join(dir, 'plain.yaml'), body.replace('{{ x }}', 'x'));
  writeFileSync(join(dir, 'rb.yaml'), `vars_files: [shared.yaml]\n${body}`);
  writeFileSync(join(dir, 'shared.yaml'), 'x: 1\n');
  const plain = await loadRunbookFile(join(dir, 'plain.yaml'));
  assert.equal(plain.runbook!.sha256, createHash('sha256').update(body.replace('{{ x }}', 'x')).digest('hex'));
  const first = (await loadRunbookFile(join(dir, 'rb.yaml'))).runbook!.sha256;
  assert.equal((await loadRunbookFile(join(dir, 'rb.yaml'))).runbook!.sha256, first, 'the same files, the same digest');
  writeFileSync(join(dir, 'shared.yaml'), 'x: 2\n');
  assert.notEqual((await loadRunbookFile(join(dir, 'rb.yaml'))).runbook!.sha256, first, 'a changed vars file changes the digest');
});
