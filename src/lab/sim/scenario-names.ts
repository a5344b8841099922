/**
 * The simulator's scenario names, without the simulator: `runbook --help` and every other command
 * list them, and importing scenarios.ts for that loaded the whole simulator at each start.
 */
export const SCENARIOS = [
  'all-expired-1.28',
  'seed2-1.11-docker',
  'seed1-1.18',
  'expiring-10d-1.28',
  'healthy-1.28',
  'healthy-1.18',
  'super-admin-1.30',
  'ha-expired-1.28',
  'ha-expired-1.18-docker',
  'ha-expiring-1.29',
  'ha-partial-1.28',
  'external-etcd-1.28',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/**
 * Scenarios for the test suite only: external-etcd-1.28's etcd runs beside the node
 * (./external-etcd.ts), not as a node process that `lab down` or the demo's cleanup stop by PID.
 */
export const TEST_ONLY_SCENARIOS: readonly ScenarioName[] = ['external-etcd-1.28'];

/** The scenarios a command line accepts (`runbook demo`, `lab up --scenario`; scenarioArg), for its help and hints. */
export const CLI_SCENARIOS: readonly ScenarioName[] = SCENARIOS.filter((s) => !TEST_ONLY_SCENARIOS.includes(s));

/** `runbook demo`'s scenario when none is given: the first incident write-up's cluster */
export const DEFAULT_SCENARIO: ScenarioName = 'seed1-1.18';

export const WORKER_SCENARIOS = ['worker-expired-1.18', 'worker-expired-1.28', 'worker-healthy-1.28'] as const;
export type WorkerScenario = (typeof WORKER_SCENARIOS)[number];
