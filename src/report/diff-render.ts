/**
 * `--diff` for people: a step's file change under its line in the plan/apply output, the unified
 * diff coloured like git's (+ green, - red, hunk headers cyan). The text is already redacted.
 */
import type { FileDiff } from '../actions/diff.js';
import { colors as pc } from './colors.js';

function colourLine(l: string): string {
  if (l.startsWith('+++ ') || l.startsWith('--- ')) return pc.bold(l);
  if (l.startsWith('@@')) return pc.cyan(l);
  if (l.startsWith('+')) return pc.green(l);
  if (l.startsWith('-')) return pc.red(l);
  return l;
}

/** The lines of one file's diff, each starting with `pad`. */
export function diffLines(d: FileDiff, pad: string): string[] {
  const out = [pad + pc.bold(`diff ${d.path}`)];
  const fact = (label: string, v: string | undefined) => v !== undefined && out.push(`${pad}${pc.dim('│')} ${label}: ${v}`);
  fact('state', d.state);
  fact('mode', d.mode);
  fact('owner', d.owner);
  fact('content', d.content);
  if (d.unified) for (const l of d.unified.split('\n')) out.push(pad + colourLine(l));
  return out;
}
