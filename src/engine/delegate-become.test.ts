/**
 * A delegated step runs over the other host's connection with that host's become, unless the step
 * (or its block) says otherwise: the play's or runbook's `become` is not the step's own (review 16).
 * Observed on the exec options the delegate's transport receives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRunbookText } from '../runbook/load.js';
import type { ExecOptions, Transport } from '../transport/types.js';
import { HostRunner } from './steps.js';

function recorder(host: string, seen: (boolean | undefined)[]): Transport {
  return {
    host,
    exec: async (_argv, o?: ExecOptions) => (seen.push(o?.become), { code: 0, stdout: 'ok', stderr: '', durationMs: 0 }),
    read: async () => Buffer.from(''),
    writeAtomic: async () => undefined,
    stat: async () => null,
    close: async () => undefined,
  };
}

test("a delegated step uses its own become, not the play's; the play's applies on the host itself", async () => {
  const { runbook, diagnostics } = loadRunbookText(
    `apiVersion: runbook/v1
name: b
plays:
  - name: P
    hosts: all
    become: true
    steps:
      - name: Delegated, no become of its own
        command: { argv: [id], read_only: true }
        delegate_to: other
      - name: Delegated, become of its own
        command: { argv: [id], read_only: true }
        delegate_to: other
        become: true
      - name: Here
        command: { argv: [id], read_only: true }
`,
    'b.yaml',
  );
  assert.ok(runbook, diagnostics.map((d) => d.message).join('\n'));
  const here: (boolean | undefined)[] = [];
  const there: (boolean | undefined)[] = [];
  const other = recorder('other', there);
  const { playView } = await import('./play-view.js');
  const view = playView(runbook, runbook.plays[0]!);
  const runner = new HostRunner({
    rb: view,
    host: 'me',
    transport: recorder('me', here),
    scope: { inventory_hostname: 'me' },
    runId: 'r',
    dryRun: false,
    localDir: '/tmp',
    sink: { emit: () => undefined },
    total: 3,
    delegate: async () => ({ transport: other, recordUndo: () => undefined, backedUpRoots: () => [], recordLost: () => undefined }),
  });
  for (const [i, s] of view.steps.entries()) assert.equal((await runner.runStep(s, i + 1)).hostFailed, false);
  assert.deepEqual(there, [undefined, true], 'the delegate: its own default, then the step\'s own become');
  assert.deepEqual(here, [true], "the host itself: the play's become");
});
