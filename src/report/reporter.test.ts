/** `--json`: every event as one line, the lines of one event-loop turn in one write, nothing lost at exit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Event } from '../engine/events.js';
import { JsonReporter } from './reporter.js';

const warning = (message: string): Event => ({ kind: 'warning', message });

function sink(): { out: Writable; writes: string[] } {
  const writes: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      writes.push(chunk.toString());
      done();
    },
  });
  return { out, writes };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('events emitted in one turn go out in one write, in order, one JSON object a line', async () => {
  const { out, writes } = sink();
  const r = new JsonReporter(out);
  for (let i = 0; i < 300; i++) r.emit(warning(`w${i}`));
  assert.equal(writes.length, 0, 'nothing is written inside the turn');
  await turn();
  await turn();
  assert.equal(writes.length, 1);
  const lines = writes[0]!.split('\n');
  assert.equal(lines.pop(), '', 'the write ends with a line break');
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as { message: string }).message),
    Array.from({ length: 300 }, (_, i) => `w${i}`),
  );
  await r.close();
});

test('a later turn writes again, and close writes what is still pending', async () => {
  const { out, writes } = sink();
  const r = new JsonReporter(out);
  r.emit(warning('first'));
  await turn();
  await turn();
  r.emit(warning('second'));
  await r.close();
  assert.deepEqual(
    writes.map((w) => w.trim()),
    [JSON.stringify(warning('first')), JSON.stringify(warning('second'))],
  );
});

test('a process that exits in the middle of a turn still prints what it emitted', () => {
  const reporter = fileURLToPath(new URL('./reporter.js', import.meta.url));
  const script = `import { JsonReporter } from ${JSON.stringify(reporter)}; const r = new JsonReporter(); r.emit({ kind: 'warning', message: 'before exit' }); process.exit(3);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 3, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { kind: 'warning', message: 'before exit' });
});

test('an event after close is written at once: nothing is left scheduled', async () => {
  const { out, writes } = sink();
  const r = new JsonReporter(out);
  await r.close();
  r.emit(warning('late'));
  assert.deepEqual(writes, [JSON.stringify(warning('late')) + '\n']);
});
