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
