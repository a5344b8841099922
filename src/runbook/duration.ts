/** Durations in runbooks: a whole number and a unit (`500ms`, `3s`, `5m`, `2h`, `30d`). */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export const DURATION_PATTERN = /^([0-9]+)(ms|s|m|h|d)$/;

/** Milliseconds; throws on a malformed duration (the schema rejects those before run time). */
export function parseDuration(text: string): number {
  const m = DURATION_PATTERN.exec(text.trim());
  if (!m) throw new Error(`invalid duration "${text}": expected a number and a unit (ms, s, m, h, d), e.g. 30d`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

export function isDuration(text: string): boolean {
  return DURATION_PATTERN.test(text.trim());
}
