import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newSudoMarkers, SudoDialog, SudoGate, sudoArgv } from './become.js';
import { userError } from '../errors.js';

const who = { user: 'root', loginUser: 'ops', host: 'cp-1' };

test('the sudo argv carries a fresh prompt and ready marker, never a password', () => {
  const a = newSudoMarkers();
  const b = newSudoMarkers();
  assert.notEqual(a.prompt, b.prompt);
  assert.ok(!a.prompt.includes('%'), 'sudo expands %-escapes in the prompt');
  const argv = sudoArgv(['id', '-u'], 'root', a);
  assert.deepEqual(argv.slice(0, 7), ['sudo', '-S', '-p', a.prompt, '-u', 'root', '--']);
  assert.deepEqual(argv.slice(-2), ['id', '-u']);
});

test('the password is written only when the prompt appears, once; stderr before READY is sudo\'s', () => {
  const m = newSudoMarkers();
  const written: string[] = [];
  const d = new SudoDialog(m, who, 'pw', (b) => written.push(b.toString()));
  assert.deepEqual(d.feed(Buffer.from('sudo: unable to resolve host x\n')), {});
  // the prompt split across two chunks
  assert.deepEqual(d.feed(Buffer.from(m.prompt.slice(0, 5))), {});
  assert.deepEqual(written, []);
  d.feed(Buffer.from(m.prompt.slice(5)));
  assert.deepEqual(written, ['pw\n']);
  const r = d.feed(Buffer.from(`${m.ready}\ncommand's own stderr`));
  assert.equal(r.event?.kind, 'ready');
  assert.equal(r.pass?.toString(), "command's own stderr");
  assert.equal(d.feed(Buffer.from(m.prompt)).pass?.toString(), m.prompt, 'after READY everything is the command\'s');
  assert.deepEqual(written, ['pw\n']);
});

test('NOPASSWD: READY without a prompt, nothing written', () => {
  const m = newSudoMarkers();
  const written: Buffer[] = [];
  const d = new SudoDialog(m, who, 'pw', (b) => written.push(b));
  assert.equal(d.feed(Buffer.from(`${m.ready}\n`)).event?.kind, 'ready');
  assert.equal(written.length, 0);
});

test('a second prompt is a wrong password; a prompt without a password says what to pass', () => {
  const m = newSudoMarkers();
  const d = new SudoDialog(m, who, 'bad', () => undefined);
  d.feed(Buffer.from(m.prompt));
  const r = d.feed(Buffer.from(`Sorry, try again.\n${m.prompt}`));
  assert.equal(r.event?.kind, 'fail');
  assert.equal(r.event?.kind === 'fail' && r.event.error.message, 'sudo: wrong password for ops on cp-1');
  const n = new SudoDialog(m, who, undefined, () => undefined).feed(Buffer.from(m.prompt));
  assert.match(n.event?.kind === 'fail' ? n.event.error.message : '', /asks ops on cp-1 for a password, and none was given/);
  const refused = new SudoDialog(m, who, 'pw', () => undefined);
  refused.feed(Buffer.from('ops is not in the sudoers file.\n'));
  assert.match(refused.refusedAtExit(1).message, /sudo refused to run commands as root for ops on cp-1: ops is not in the sudoers file/);
});

test('SudoGate: one check first; after a become failure every call fails at once', async () => {
  const g = new SudoGate();
  const order: string[] = [];
  let release!: () => void;
  const first = g.run('root', () => new Promise<void>((r) => (release = r)).then(() => void order.push('first')));
  const second = g.run('root', async () => void order.push('second'));
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(order, [], 'the second waits for the first');
  release();
  await Promise.all([first, second]);
  assert.deepEqual(order, ['first', 'second']);
  const bad = new SudoGate();
  let calls = 0;
  const fail = () => {
    calls++;
    return Promise.reject(userError('become', 'sudo: wrong password for ops on cp-1'));
  };
  const all = await Promise.allSettled([bad.run('root', fail), bad.run('root', fail), bad.run('root', fail)]);
  assert.equal(calls, 1, 'sudo was tried once');
  assert.ok(all.every((r) => r.status === 'rejected'));
});

test('SudoGate: the others go once sudo CONFIRMED the first (not when it finishes); a first that ends unconfirmed proves nothing', async () => {
  const g = new SudoGate();
  const order: string[] = [];
  let confirm!: () => void;
  let finish!: () => void;
  // a long first command: sudo confirms it at once, it runs on
  const first = g.run('root', (confirmed) => {
    confirm = confirmed;
    return new Promise<void>((r) => (finish = r)).then(() => void order.push('first done'));
  });
  const second = g.run('root', async () => void order.push('second'));
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(order, [], 'nothing before sudo confirmed the first');
  confirm();
  await second;
  assert.deepEqual(order, ['second'], 'the second ran while the first still runs');
  finish();
  await first;

  // the first timed out while sudo was still asking: it resolves (timedOut), unconfirmed
  const h = new SudoGate();
  let checks = 0;
  let releaseFirst!: () => void;
  const unconfirmed = h.run('root', () => {
    checks++;
    return new Promise<string>((r) => (releaseFirst = () => r('timed out')));
  });
  const running: string[] = [];
  let confirmNext!: () => void;
  const next = h.run('root', (confirmed) => {
    checks++;
    running.push('next');
    confirmNext = confirmed;
    return new Promise<void>((r) => setTimeout(r, 20));
  });
  const third = h.run('root', async () => void running.push('third'));
  releaseFirst();
  await unconfirmed;
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(running, ['next'], 'after an unconfirmed first, one command checks again, alone');
  assert.equal(checks, 2);
  confirmNext();
  await Promise.all([next, third]);
  assert.deepEqual(running, ['next', 'third']);
});
