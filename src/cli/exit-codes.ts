/** Process exit codes, documented in `runbook --help`. */
export const EXIT = {
  ok: 0,
  internal: 1,
  changesPending: 2,
  invalidInput: 3,
  failedHosts: 4,
  unreachableHosts: 5,
  rolledBack: 6,
} as const;

export const EXIT_HELP = `Exit codes:
  0  success (plan: no changes pending)
  1  internal error (a bug: please report it)
  2  plan: changes pending
  3  invalid input (runbook, inventory, options)
  4  one or more hosts failed
  5  one or more hosts unreachable
  6  failed and rolled back`;
