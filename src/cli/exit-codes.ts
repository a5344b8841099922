// The exit codes themselves are the engine's (a run's result); this is how the CLI documents them.
export { EXIT } from '../engine/exit-codes.js';

export const EXIT_HELP = `Exit codes:
  0  success (plan: no changes pending)
  1  internal error (a bug: please report it)
  2  plan: changes pending
  3  invalid input (runbook, inventory, options)
  4  one or more hosts failed, or were aborted (stopped by any_errors_fatal or
     max_fail_percentage), or failed with changes rollback could not put back
     (recap: failed, "not restored: PATHS")
  5  one or more hosts unreachable
  6  failed and rolled back (every change put back; aborted hosts rolled back too)`;
