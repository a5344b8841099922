/**
 * The one quoting function. Every remote command is built from an argv array and
 * turned into a POSIX shell string here, and nowhere else.
 */

/** A command part whose value must never be printed (passwords, tokens). */
export interface SecretArg {
  readonly secret: string;
}
export type Arg = string | SecretArg;

export function secret(value: string): SecretArg {
  return { secret: value };
}

export function isSecretArg(a: unknown): a is SecretArg {
  return typeof a === 'object' && a !== null && typeof (a as SecretArg).secret === 'string';
}

// no leading `=`: zsh, a common login shell, expands `=ls` to ls's path (EQUALS, on by default)
const SAFE = /^[A-Za-z0-9_/.,:@%+^-][A-Za-z0-9_/.,:=@%+^-]*$/;

/** POSIX-quote one argument: safe words stay bare, everything else goes in single quotes. */
export function quoteArg(value: string): string {
  if (value.length > 0 && SAFE.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * In command position a bare word can mean something else than the argument it spells:
 * `A=b` is a variable assignment and `if`, `for`, ... are reserved words. Quote those.
 */
const RESERVED = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'case', 'esac', 'while', 'until', 'for', 'in', 'function', 'select', 'time']);
function quoteCommandWord(value: string): string {
  if (value.includes('=') || RESERVED.has(value)) return `'${value.replace(/'/g, `'\\''`)}'`;
  return quoteArg(value);
}

/** The shell string that runs exactly this argv. */
export function shellJoin(argv: readonly Arg[]): string {
  return argv.map((a, i) => (i === 0 ? quoteCommandWord : quoteArg)(isSecretArg(a) ? a.secret : a)).join(' ');
}

/** What an operator may see: the same string with secrets as ***. */
export function displayCommand(argv: readonly Arg[]): string {
  return argv.map((a, i) => (isSecretArg(a) ? '***' : (i === 0 ? quoteCommandWord : quoteArg)(a))).join(' ');
}
