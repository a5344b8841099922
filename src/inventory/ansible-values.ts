// How Ansible reads inventory and configuration values: its boolean() and Python's int().

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

/** Python's int() of a value (a YAML one, or a configuration file's text); undefined where int() raises. */
export function pythonInt(v: unknown): number | undefined {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) : undefined;
  // text: blanks around, a sign, digits with single underscores between them
  if (typeof v === 'string' && /^\s*[-+]?\d+(_\d+)*\s*$/.test(v)) return Number(v.replace(/[_\s]/g, '')) + 0; // + 0: -0 is 0
  return undefined;
}
