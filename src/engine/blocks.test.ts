/**
 * block / rescue / always: a property test against try / catch / finally. Random trees of
 * blocks (as a runbook writes them) go through the loader's flattening and the engine's
 * rebuilding and running; the steps run, their order, the host's outcome and its failure state
 * must be those of the same tree run as JavaScript's try { block } catch { rescue } finally { always }.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { flattenSteps } from '../runbook/blocks.js';
import type { Step } from '../runbook/schema-types.js';
import { blockTree, forgetFailure, markFailure, runSteps, type FailureState } from './blocks.js';

type Tree = { leaf: string } | { block: Tree[]; rescue?: Tree[]; always?: Tree[] };

let counter = 0;
const tree: fc.Arbitrary<Tree[]> = fc.letrec<{ node: Tree; list: Tree[] }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null).map(() => ({ leaf: '' })),
    fc.record({ block: tie('list'), rescue: fc.option(tie('list'), { nil: undefined }), always: fc.option(tie('list'), { nil: undefined }) }, { requiredKeys: ['block'] }),
  ),
  list: fc.array(tie('node'), { minLength: 1, maxLength: 3 }),
})).list;

/** Name the leaves s0, s1, ... in document order (block, then rescue, then always). */
function name(nodes: Tree[]): void {
  for (const n of nodes) {
    if ('leaf' in n) n.leaf = `s${counter++}`;
    else for (const part of [n.block, n.rescue, n.always]) if (part) name(part);
  }
}

function toSteps(nodes: Tree[]): Step[] {
  return nodes.map((n, i) =>
    'leaf' in n
      ? ({ name: n.leaf, command: { argv: ['true'], read_only: true } } as Step)
      : ({ name: `b${i}`, block: toSteps(n.block), ...(n.rescue ? { rescue: toSteps(n.rescue) } : {}), ...(n.always ? { always: toSteps(n.always) } : {}) } as unknown as Step),
  );
}

class Failed extends Error {}

/** The reference: a block is try { block } catch { rescue } finally { always }. */
function reference(nodes: Tree[], fails: Set<string>, log: string[]): void {
  for (const n of nodes) {
    if ('leaf' in n) {
      log.push(n.leaf);
      if (fails.has(n.leaf)) throw new Failed();
      continue;
    }
    try {
      reference(n.block, fails, log);
    } catch (e) {
      if (!n.rescue) throw e;
      reference(n.rescue, fails, log);
    } finally {
      if (n.always) reference(n.always, fails, log);
    }
  }
}

function referenceRun(nodes: Tree[], fails: Set<string>, policy: 'stop' | 'continue'): { log: string[]; failed: boolean } {
  const log: string[] = [];
  let failed = false;
  for (const n of nodes) {
    try {
      reference([n], fails, log);
    } catch (e) {
      if (!(e instanceof Failed)) throw e;
      failed = true;
      if (policy === 'stop') break;
    }
  }
  return { log, failed };
}

test('blocks run as try { block } catch { rescue } finally { always }', async () => {
  await fc.assert(
    fc.asyncProperty(tree, fc.array(fc.nat(40)), fc.constantFrom('stop' as const, 'continue' as const), async (nodes, failing, policy) => {
      counter = 0;
      name(nodes);
      const fails = new Set(failing.map((i) => `s${i}`));
      const flat = flattenSteps(toSteps(nodes), ['steps']);
      // flattening keeps every leaf, in document order
      assert.deepEqual(flat.map((f) => f.step.name), Array.from({ length: counter }, (_, i) => `s${i}`));

      const log: string[] = [];
      const notNeeded: string[] = [];
      const runner: FailureState = { counts: { failed: 0 } };
      let hostFailed = false;
      await runSteps(
        blockTree(flat, (f) => f.frames),
        {
          run: async (f) => {
            log.push(f.step.name);
            if (!fails.has(f.step.name)) return 'ok';
            runner.counts.failed++;
            runner.failure ??= f.step.name;
            return 'failed';
          },
          mark: () => markFailure(runner),
          rescued: (_b, m) => forgetFailure(runner, m),
          notNeeded: (f) => notNeeded.push(f.step.name),
        },
        () => ((hostFailed = true), policy === 'stop'),
      );
      const want = referenceRun(nodes, fails, policy);
      assert.deepEqual(log, want.log, 'the steps that run, in order');
      assert.equal(hostFailed, want.failed, 'whether the host failed');
      // a rescued failure leaves no trace in the failure state; an unrescued one is the first failure
      if (!want.failed) {
        assert.equal(runner.failure, undefined);
        assert.equal(runner.counts.failed, 0);
      } else assert.ok(runner.failure !== undefined && runner.counts.failed > 0);
      // a rescue step reported "not needed" never ran and is a leaf of some rescue
      for (const s of notNeeded) assert.ok(!log.includes(s), `${s} was reported not needed and ran`);
      for (const s of notNeeded) assert.ok(flat.find((f) => f.step.name === s)!.frames.some((fr) => fr.part === 'rescue'));
    }),
    { numRuns: 400 },
  );
});

test('a step inside a block inherits the block\'s when, tags and settings; its own win', () => {
  const steps = [
    {
      name: 'outer',
      when: 'a',
      tags: ['x'],
      become: true,
      block: [
        { name: 'inner', when: 'b', tags: ['y'], become: false, command: { argv: ['true'], read_only: true } },
        { name: 'plain', command: { argv: ['true'], read_only: true } },
      ],
      always: [{ name: 'cleanup', command: { argv: ['true'], read_only: true } }],
    },
  ] as unknown as Step[];
  const flat = flattenSteps(steps, ['steps']);
  assert.deepEqual(
    flat.map((f) => [f.step.name, f.step.when, f.step.tags, f.step.become, f.frames.map((fr) => `${fr.id}:${fr.part}`).join(' ')]),
    [
      ['inner', '(a) && (b)', ['x', 'y'], false, 'steps[0]:block'],
      ['plain', 'a', ['x'], true, 'steps[0]:block'],
      ['cleanup', 'a', ['x'], true, 'steps[0]:always'],
    ],
  );
  assert.deepEqual(flat.map((f) => f.path.join('.')), ['steps.0.block.0', 'steps.0.block.1', 'steps.0.always.0']);
});
