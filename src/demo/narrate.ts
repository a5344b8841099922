/**
 * Printing the demo for a newcomer: a numbered stage, a few plain sentences about what is about
 * to happen and why, the exact command an operator would type, its output (indented, so it is
 * clearly the tool speaking), and a verdict line. Colour only on a terminal (report/colors).
 */
import { relative, isAbsolute } from 'node:path';
import { colors as pc } from '../report/colors.js';
import { shellJoin } from '../transport/quote.js';

export class Narrator {
  private failures: string[] = [];

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  private line(s = ''): void {
    this.out.write(s + '\n');
  }

  title(text: string): void {
    this.line(pc.bold(text));
  }

  stage(n: number, title: string, ...explanation: string[]): void {
    this.line();
    this.line(pc.bold(pc.cyan(`── ${n}. ${title} `.padEnd(100, '─'))));
    for (const p of explanation) this.line(p);
  }

  say(...lines: string[]): void {
    for (const l of lines) this.line(l);
  }

  /** The command as an operator would type it. */
  command(argv: readonly string[]): void {
    this.line(pc.bold(`  $ ${shellJoin(argv)}`));
  }

  /** Tool output, indented; at most `maxLines` (the first ones, then the last `tail`). */
  output(text: string, o: { maxLines?: number; tail?: number } = {}): void {
    const lines = text.replace(/\s+$/, '').split('\n').filter((l, _i, a) => !(a.length === 1 && l === ''));
    const max = o.maxLines ?? Infinity;
    const tail = Math.min(o.tail ?? 0, max);
    const shown =
      lines.length <= max
        ? lines
        : [...lines.slice(0, max - tail), pc.dim(`… ${lines.length - max} more lines …`), ...lines.slice(lines.length - tail)];
    for (const l of shown) this.line(pc.dim('    │ ') + l);
  }

  ok(text: string): void {
    this.line(pc.green(`  ✔ ${text}`));
  }

  fail(text: string): void {
    this.failures.push(text);
    this.line(pc.red(`  ✘ ${text}`));
  }

  /** ok when `cond`, else a recorded failure; returns cond. */
  expect(cond: boolean, okText: string, failText: string): boolean {
    if (cond) this.ok(okText);
    else this.fail(failText);
    return cond;
  }

  get failed(): readonly string[] {
    return this.failures;
  }
}

/** A path as short as it can be shown: relative to the cwd when inside it. */
export function shortPath(p: string, cwd = process.cwd()): string {
  const rel = relative(cwd, p);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : p;
}
