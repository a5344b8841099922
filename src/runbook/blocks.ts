/**
 * `block` / `rescue` / `always` in the loader (Ansible's): a block is a step that groups steps.
 * The engine sees no block step: the loader flattens every block into the steps inside it, in
 * document order, each carrying the chain of blocks around it (its frames) and the block's
 * settings it inherits (`when` joined with `&&`, `tags` added, `become`/`timeout`/`no_log`/
 * `ignore_errors` unless the step says, `vars` under the step's own). src/engine/blocks.ts rebuilds the tree to run it.
 */
import type { Diagnostic } from '../errors.js';
import type { Step } from './schema-types.js';
import { label } from './schema-check.js';
import { positionOf, type Path, type YamlDocument, isObject } from './yaml.js';

export const BLOCK_PARTS = ['block', 'rescue', 'always'] as const;
export type BlockPart = (typeof BLOCK_PARTS)[number];

/** One enclosing block of a step: which block (its id) and which of its parts the step is in. */
export interface BlockFrame {
  /** the block's id, e.g. `steps[2]` or `plays[0].steps[1].block[0]` */
  id: string;
  name: string;
  part: BlockPart;
}

/** Settings of a block that its steps inherit. */
const INHERITED = ['become', 'timeout', 'no_log', 'ignore_errors'] as const;
/** Step options that mean nothing on a block (they belong on the steps inside). */
const NOT_ON_BLOCK = ['register', 'loop', 'notify', 'retries', 'delay', 'until', 'run_once', 'delegate_to'] as const;

export function isBlock(step: unknown): boolean {
  return isObject(step) && 'block' in step;
}

export interface WalkedStep {
  step: Record<string, unknown>;
  path: Path;
  /** a block (its steps follow it in the walk) */
  block: boolean;
  /** names of the `vars:` of the blocks around it and its own */
  vars: string[];
}

/** Every step of a list in document order, blocks and the steps inside them included, with its path. */
export function walkSteps(list: unknown, at: Path, out: WalkedStep[] = [], outer: string[] = []): WalkedStep[] {
  if (!Array.isArray(list)) return out;
  list.forEach((step, i) => {
    if (!isObject(step)) return;
    const path = [...at, i];
    const block = isBlock(step);
    const vars = isObject(step.vars) ? [...outer, ...Object.keys(step.vars)] : outer;
    out.push({ step, path, block, vars });
    if (block) for (const part of BLOCK_PARTS) walkSteps(step[part], [...path, part], out, vars);
  });
  return out;
}

export interface FlatStep {
  /** the step with what it inherits from its blocks */
  step: Step;
  path: Path;
  frames: BlockFrame[];
}

/** The steps of a (valid) list with every block replaced by the steps inside it. */
export function flattenSteps(list: Step[] | undefined, at: Path, frames: BlockFrame[] = [], out: FlatStep[] = []): FlatStep[] {
  (list ?? []).forEach((written, i) => {
    const path = [...at, i];
    if (!isBlock(written)) {
      out.push({ step: written, path, frames });
      return;
    }
    const b = written as Step & Record<BlockPart, Step[] | undefined>;
    for (const part of BLOCK_PARTS) {
      const inner = (b[part] ?? []).map((s) => inherit(b, s));
      flattenSteps(inner, [...path, part], [...frames, { id: label(path), name: b.name, part }], out);
    }
  });
  return out;
}

/** A step inside a block, with the block's when, tags and settings. */
function inherit(block: Step, step: Step): Step {
  const out: Record<string, unknown> = { ...step };
  for (const k of INHERITED) if (out[k] === undefined && block[k] !== undefined) out[k] = block[k];
  if (block.tags?.length) out.tags = [...new Set([...block.tags, ...(step.tags ?? [])])];
  if (block.vars !== undefined) out.vars = { ...block.vars, ...(step.vars ?? {}) };
  if (block.when !== undefined) out.when = step.when === undefined ? block.when : `(${block.when}) && (${step.when})`;
  return out as unknown as Step;
}

/**
 * Blocks said plainly: `rescue`/`always` need a `block`; a block has no action and none of the
 * options that belong on a step; blocks are for `steps:` (not handlers or rollback).
 */
export function blockDiagnostics(doc: YamlDocument, lists: { path: Path; section: string }[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const file = doc.source.file;
  const root = doc.value as Record<string, unknown>;
  const at = (path: Path): unknown => path.reduce<unknown>((v, k) => (isObject(v) || Array.isArray(v) ? (v as Record<string | number, unknown>)[k] : undefined), root);
  for (const { path, section } of lists) {
    for (const w of walkSteps(at(path), path)) {
      const s = w.step;
      const name = typeof s.name === 'string' ? `"${s.name}"` : label(w.path);
      if (!w.block) {
        for (const part of ['rescue', 'always'] as const) {
          if (part in s) out.push({ kind: 'schema', severity: 'error', message: `step ${name} has \`${part}:\` but no \`block:\``, hint: `${part} steps belong to a block: put the steps they cover under block:`, file, ...positionOf(doc, [...w.path, part], 'key') });
        }
        continue;
      }
      if (section !== 'steps') {
        out.push({ kind: 'schema', severity: 'error', message: `a block belongs in steps:, not in ${section}:`, hint: `write the ${section} steps one after the other`, file, ...positionOf(doc, [...w.path, 'block'], 'key') });
      }
      for (const k of NOT_ON_BLOCK) {
        if (k in s) out.push({ kind: 'schema', severity: 'error', message: `\`${k}\` does not apply to a block (block ${name})`, hint: `put ${k} on the steps inside the block`, file, ...positionOf(doc, [...w.path, k], 'key') });
      }
    }
  }
  return out;
}
