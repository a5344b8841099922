/**
 * Running `block` / `rescue` / `always` (Ansible's meaning). The loader flattened each block into
 * its steps, each with the chain of blocks around it; here the selected steps become a tree again.
 *
 * A block runs its steps in order. When one fails (and does not ignore errors), the rest of the
 * block is not run and its `rescue` steps run; when they all succeed the failure is rescued: the
 * host goes on as if nothing had failed (no failure policy, no rollback, no any_errors_fatal).
 * A failure in `rescue` (or a block without rescue) is the block's failure. The `always` steps run
 * after either; a failure there fails the block too. A block's failure is the enclosing block's
 * step failure (it may rescue it), and at the top the play's `on_failure` decides, after every
 * `always` on the way out has run, so a rollback comes after the cleanup.
 *
 * `stop` (the run is stopping: any_errors_fatal on another host) ends everything, `always` too.
 */
import type { BlockFrame } from '../runbook/blocks.js';
import type { StepInfo } from '../runbook/model.js';
import type { EventSink } from './events.js';

export type Outcome = 'ok' | 'failed' | 'stop';

export type BlockNode<T> = { kind: 'step'; item: T } | { kind: 'block'; id: string; name: string; block: BlockNode<T>[]; rescue: BlockNode<T>[]; always: BlockNode<T>[] };

/** The tree of blocks the items (in document order) were flattened from. */
export function blockTree<T>(items: readonly T[], framesOf: (item: T) => readonly BlockFrame[] | undefined): BlockNode<T>[] {
  const top: BlockNode<T>[] = [];
  for (const item of items) {
    let list = top;
    for (const f of framesOf(item) ?? []) {
      const last = list[list.length - 1];
      let node = last?.kind === 'block' && last.id === f.id ? last : undefined;
      if (!node) {
        node = { kind: 'block', id: f.id, name: f.name, block: [], rescue: [], always: [] };
        list.push(node);
      }
      list = node[f.part];
    }
    list.push({ kind: 'step', item });
  }
  return top;
}

/** The steps under some nodes, in order. */
export function leaves<T>(nodes: readonly BlockNode<T>[]): T[] {
  return nodes.flatMap((n) => (n.kind === 'step' ? [n.item] : [...leaves(n.block), ...leaves(n.rescue), ...leaves(n.always)]));
}

export interface BlockHooks<T, M> {
  /** run one step */
  run(item: T): Promise<Outcome>;
  /** before a block: what a rescue must put back (the host's failure state) */
  mark(): M;
  /** a block's failure was rescued: forget it */
  rescued(block: { id: string; name: string }, mark: M): void;
  /** a rescue that did not run because nothing failed */
  notNeeded(item: T, block: { id: string; name: string }): void;
}

async function runList<T, M>(nodes: readonly BlockNode<T>[], hooks: BlockHooks<T, M>): Promise<Outcome> {
  for (const n of nodes) {
    const r = n.kind === 'step' ? await hooks.run(n.item) : await runBlock(n, hooks);
    if (r !== 'ok') return r;
  }
  return 'ok';
}

async function runBlock<T, M>(b: Extract<BlockNode<T>, { kind: 'block' }>, hooks: BlockHooks<T, M>): Promise<Outcome> {
  const mark = hooks.mark();
  let r = await runList(b.block, hooks);
  if (r === 'failed' && b.rescue.length > 0) {
    r = await runList(b.rescue, hooks);
    if (r === 'ok') hooks.rescued(b, mark);
  } else if (r === 'ok') for (const item of leaves(b.rescue)) hooks.notNeeded(item, b);
  if (r === 'stop') return 'stop';
  const a = await runList(b.always, hooks);
  if (a === 'stop') return 'stop';
  return r === 'failed' || a === 'failed' ? 'failed' : 'ok';
}

/**
 * Run a play's steps on one host. `failed()` is asked after each top-level failure (a step's, or
 * an unrescued block's) and says whether the host stops there (the play's failure policy).
 */
export async function runSteps<T, M>(nodes: readonly BlockNode<T>[], hooks: BlockHooks<T, M>, failed: () => boolean): Promise<void> {
  for (const n of nodes) {
    const r = n.kind === 'step' ? await hooks.run(n.item) : await runBlock(n, hooks);
    if (r === 'stop') return;
    if (r === 'failed' && failed()) return;
  }
}

/** The host's failure state that a rescue puts back: the runner's first failure and its failed count. */
export interface FailureState {
  failure?: string;
  counts: { failed: number; rescued?: number };
}

export function markFailure(r: FailureState): { failure?: string; failed: number } {
  return { ...(r.failure !== undefined ? { failure: r.failure } : {}), failed: r.counts.failed };
}

/** A rescued failure is not a failure: the recap counts it as rescued (Ansible's `rescued=`). */
export function forgetFailure(r: FailureState, m: { failure?: string; failed: number }): void {
  r.failure = m.failure;
  r.counts.failed = m.failed;
  r.counts.rescued = (r.counts.rescued ?? 0) + 1;
}

/** A rescue step that did not run: reported as skipped, with why. */
export function reportNotNeeded(sink: EventSink, host: string, step: StepInfo, index: number, total: number, block: { name: string }, dryRun = false): void {
  sink.emit({
    kind: 'step-end',
    host,
    step: step.id,
    name: step.name,
    type: step.type,
    index,
    total,
    status: 'skipped',
    commands: [],
    // a plan cannot know whether a step that would run after changes fails: say when it runs
    summary: dryRun ? `rescue of block "${block.name}": runs only if a step of the block fails` : `rescue of block "${block.name}": not needed, nothing in the block failed`,
    durationMs: 0,
  });
}
