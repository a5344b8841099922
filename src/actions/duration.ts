/**
 * Durations for step parameters (`delay: 3s`, `within: 30d`). The parser is the runbook
 * language's own (src/runbook/duration.ts), so the schema, validation and actions agree.
 */
import { userError } from '../errors.js';
import { parseDuration as parseRunbookDuration, isDuration } from '../runbook/duration.js';

export { isDuration };

/** `parseDuration('3s') → 3000`. Throws a UserError (kind 'step') naming the parameter on bad input. */
export function parseDuration(text: string | number, what = 'duration'): number {
  if (typeof text === 'number' && Number.isFinite(text) && text >= 0) return text * 1000; // bare number: seconds
  try {
    return parseRunbookDuration(String(text));
  } catch {
    throw userError('step', `${what}: invalid duration "${String(text)}"`, {
      hint: 'a whole number and a unit: 500ms, 3s, 5m, 2h, 30d',
    });
  }
}

/** `3000 → '3s'`, for messages. */
export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
