/**
 * Runs the real `runbook` CLI (this package's dist/src/cli/main.js) as a child process with the
 * sandbox's environment: the same code path as an operator's `runbook plan/apply/rollback`, with
 * the emulated kubeadm, systemctl and crictl first on PATH. The argv shown is the argv run.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOnNode, type RunResult, type Sandbox } from './sandbox.js';

const MAIN_JS = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** `runbook ARGS...` in the sandbox, from the operator's current directory (paths in ARGS resolve as typed). */
export function runbookCli(sb: Sandbox, args: string[]): Promise<RunResult> {
  // the sandbox's inventory says how to reach its nodes: the operator's own ansible.cfg (a bastion in
  // its ssh_args, say) must not send the demo elsewhere
  const none = join(sb.root, 'ansible-none.cfg');
  if (!existsSync(none)) writeFileSync(none, '');
  const env = Object.fromEntries(Object.entries(sb.env).filter(([k]) => !k.startsWith('ANSIBLE_')));
  return runOnNode({ ...sb, env: { ...env, ANSIBLE_CONFIG: none } }, [process.execPath, MAIN_JS, ...args], { timeoutMs: 180_000, cwd: process.cwd() });
}

/** The run id in `plan`/`apply` output ("APPLY name — run 20260101T000000Z-abcdef, ..."). */
export function runIdOf(output: string): string | undefined {
  return /\brun (\d{8}T\d{6}Z-[0-9a-f]+)/.exec(output)?.[1];
}

/** `changed=N` from apply's last summary line ("1 hosts: ok=12 changed=0 failed=0 ..."). */
export function changedCountOf(output: string): number | undefined {
  const lines = output.trim().split('\n').reverse();
  for (const l of lines) {
    const m = /\bhosts?: .*\bchanged=(\d+)/.exec(l);
    if (m) return Number(m[1]);
  }
  return undefined;
}
