/**
 * Terminal colours, decided once per process. picocolors on its own turns colour on whenever
 * a `CI` variable is set, which puts escape codes into logs and piped output; an operator
 * piping `runbook plan` into a file or grep wants plain text. Colour is on only for a real
 * terminal (or FORCE_COLOR), and NO_COLOR always wins (https://no-color.org).
 */
import pc from 'picocolors';

export function colorWanted(env: NodeJS.ProcessEnv = process.env, isTty = process.stdout.isTTY === true): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return isTty && env.TERM !== 'dumb';
}

export const colors = pc.createColors(colorWanted());
