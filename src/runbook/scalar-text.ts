/**
 * The text spellings of booleans and numbers that a `-e key=value` (always text) is read as when
 * the runbook declares the variable with a boolean or number default (./extra-var-types.ts), and
 * that a failed expression points out when a variable holds such text (./expressions.ts).
 *
 * Booleans: the spellings Ansible's `bool` filter documents, case-insensitive: true/false,
 * yes/no, on/off, 1/0 (which covers YAML 1.1's True/FALSE/Yes/OFF...). Not y/n/t/f.
 * Integers: decimal digits with an optional sign (YAML 1.2's core schema, without 0x/0o).
 * Numbers: an integer, or a decimal fraction with an optional exponent (1.5, .5, 2e3); never
 * .inf or .nan, nor anything past what a double holds exactly as an integer.
 */

const TRUE = new Set(['true', 'yes', 'on', '1']);
const FALSE = new Set(['false', 'no', 'off', '0']);
const INTEGER = /^[-+]?[0-9]+$/;
const NUMBER = /^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/;

export function booleanOfText(text: string): boolean | undefined {
  const t = text.toLowerCase();
  return TRUE.has(t) ? true : FALSE.has(t) ? false : undefined;
}

export function integerOfText(text: string): number | undefined {
  if (!INTEGER.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function numberOfText(text: string): number | undefined {
  if (!NUMBER.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n)) ? n : undefined;
}
