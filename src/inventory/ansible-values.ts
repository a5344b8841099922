// How Ansible reads inventory and configuration values: its boolean() and Python's int().
import { userError } from '../errors.js';

/** Ansible's booleans (module_utils/parsing/convert_bool.py): what its boolean() takes as true and as false. */
const ANSIBLE_TRUE: ReadonlySet<string> = new Set(['y', 'yes', 'on', '1', 'true', 't']);
const ANSIBLE_FALSE: ReadonlySet<string> = new Set(['n', 'no', 'off', '0', 'false', 'f']);

/** Ansible's strict boolean(v): true or false, or undefined for a value Ansible refuses as a boolean. */
export function ansibleBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === 0) return v === 1;
  if (typeof v !== 'string') return undefined;
  const s = v.trim().toLowerCase();
  return ANSIBLE_TRUE.has(s) ? true : ANSIBLE_FALSE.has(s) ? false : undefined;
}

/**
 * The connection variables Ansible reads through boolean() when it connects (so YAML 1.1's `yes`,
 * which a YAML 1.2 inventory loads as text, means true there): runbook reads them the same way,
 * and refuses a value boolean() refuses instead of taking it as false.
 */
export const ANSIBLE_BOOLEAN_VARS: readonly string[] = ['ansible_become', 'ansible_host_key_checking'];

/** What is wrong with `value` for the boolean variable `key`, in the words every inventory format uses. */
export function notAnsibleBoolean(key: string, value: unknown): string {
  return `${key} is ${JSON.stringify(value) ?? String(value)}, which Ansible does not take as a boolean (true/false, yes/no, on/off, y/n, 1/0)`;
}

/** `vars` with each ANSIBLE_BOOLEAN_VARS value made true or false; one Ansible refuses goes to `refused` and is left out. */
export function withAnsibleBooleans(vars: Record<string, unknown>, refused: (key: string, value: unknown) => void): Record<string, unknown> {
  const copy = { ...vars };
  for (const k of ANSIBLE_BOOLEAN_VARS) {
    if (!(k in copy)) continue;
    const b = ansibleBoolean(copy[k]);
    if (b === undefined) {
      refused(k, copy[k]);
      delete copy[k];
    } else copy[k] = b;
  }
  return copy;
}

/**
 * A host's boolean connection variable as Ansible reads it: undefined when unset, and an
 * inventory error naming the host and the variable for a value Ansible refuses.
 */
export function hostAnsibleBoolean(vars: Record<string, unknown>, key: string, host: string): boolean | undefined {
  const v = vars[key];
  if (v === undefined) return undefined;
  const b = ansibleBoolean(v);
  if (b === undefined) throw userError('inventory', `host \`${host}\`: ${notAnsibleBoolean(key, v)}`, { host });
  return b;
}

/** Python's int() of a value (a YAML one, or a configuration file's text); undefined where int() raises. */
export function pythonInt(v: unknown): number | undefined {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) : undefined;
  // text: blanks around, a sign, digits with single underscores between them
  if (typeof v === 'string' && /^\s*[-+]?\d+(_\d+)*\s*$/.test(v)) return Number(v.replace(/[_\s]/g, '')) + 0; // + 0: -0 is 0
  return undefined;
}
