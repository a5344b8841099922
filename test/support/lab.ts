// The lab set-up most integration test files share: a lab in the file's own 127.1.X block, a
// temporary dir with the inventory (and a runbook), torn down after the file's tests, the lab last
// (then only what it ran inside, such as a network namespace) and whatever failed before it.
//
// node --test runs every test file in a process of its own, so each file has one lab: useLab()
// registers the hooks, and `lab`, `dir`, `inv`, `stateDir` and `rbFile` are live bindings the
// before-hook fills in. A test file states only its block, its runbook and what it adds.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labSupport, startLab, type Lab, type LabHost, type StartLabOptions } from '../../src/lab/hosts.js';
import { treeSnapshot } from '../../src/lab/tree-snapshot.js';
import { alive } from '../../src/lab/process.js';
import { packageRoot } from '../../src/lab/sim/paths.js';
import { SshTransport, type SshConnectOptions } from '../../src/transport/ssh.js';
import { Capture } from './capture.js';
import { runProcess, type Ran } from './run.js';

export let lab: Lab;
/** the file's temporary dir: inventory.yaml, state/, the runbook */
export let dir: string;
/** <dir>/inventory.yaml */
export let inv: string;
/** <dir>/state (made by the first command that needs it) */
export let stateDir: string;
/** <dir>/<runbook.file>, when the file gave one */
export let rbFile: string;

export interface LabFixture {
  /**
   * startLab's options, or a function making them when they need something made first (a network
   * namespace for netnsPid...); keep `firstAddress: '127.1.X.1'` literal in the test file (test/house-rules reads it there)
   */
  start: StartLabOptions | (() => Promise<StartLabOptions>);
  /** the temporary dir's name prefix */
  tmp: string;
  /** commands the file needs besides the lab's own (it skips, naming them, when one is missing) */
  requires?: string[];
  /** the inventory's text; default the lab's own (lab.inventoryYaml()) */
  inventory?: (lab: Lab) => string;
  /** written to <dir>/<file>; its path is `rbFile` */
  runbook?: { file: string; text: string };
  /** after all the above: users, snapshots of the pristine hosts, simulated nodes... */
  setup?: () => void | Promise<void>;
  /** before the lab stops (simulated nodes...); the lab is stopped and the dir removed even when it throws */
  teardown?: () => void | Promise<void>;
  /** after the lab is stopped and the dir removed, even when they throw: what `start` made for the lab to run in */
  afterStop?: () => void | Promise<void>;
}

/** Why this file's lab tests cannot run here, or false. */
function skipReason(requires: string[]): string | false {
  const support = labSupport();
  if (!support.ok) return support.reason!;
  if (requires.length === 0) return false;
  const found = spawnSync('sh', ['-c', requires.map((c) => `command -v ${c}`).join(' && ')]).status === 0;
  return found ? false : `${requires.slice(0, -1).join(', ')}${requires.length > 1 ? ' or ' : ''}${requires[requires.length - 1]} not installed`;
}

/** Registers the file's before/after hooks; returns the `skip` option for its tests (false, or why not). */
export function useLab(f: LabFixture): string | false {
  const skip = skipReason(f.requires ?? []);
  before(async () => {
    if (skip) return;
    lab = await startLab(typeof f.start === 'function' ? await f.start() : f.start);
    dir = mkdtempSync(join(tmpdir(), f.tmp));
    inv = join(dir, 'inventory.yaml');
    writeFileSync(inv, f.inventory ? f.inventory(lab) : lab.inventoryYaml());
    stateDir = join(dir, 'state');
    if (f.runbook) {
      rbFile = join(dir, f.runbook.file);
      writeFileSync(rbFile, f.runbook.text);
    }
    await f.setup?.();
  });
  after(async () => {
    if (skip) return;
    try {
      await f.teardown?.();
    } finally {
      try {
        // the sshds are detached: a lab not stopped here outlives the test process
        if (lab) await lab.stop();
        if (dir) rmSync(dir, { recursive: true, force: true });
      } finally {
        await f.afterStop?.();
      }
    }
  });
  return skip;
}

/** sha256 and mode (or link target) of every entry under host h's trees, seen from outside */
export function snapshot(h: LabHost, roots = ['/etc/kubernetes']): Map<string, string> {
  return treeSnapshot(roots, (r) => lab.hostPath(h, r));
}

/**
 * Options for a CLI command (applyCmd, planCmd, rollbackCmd...) on the file's runbook, inventory and
 * state dir, output captured; `extra` is added with its own types (rollbackCmd's `id: string`...).
 */
export function cmdOptions<T extends object = Record<never, never>>(extra: T = {} as T) {
  return { runbook: rbFile, inventory: inv, stateDir, stdout: new Capture(), stderr: new Capture(), ...extra };
}

/** A connection to a host whose sshd was just sent SIGHUP (it re-reads its config, same PID): retried until it answers, for up to `ms`. */
export async function connectWhenBack(o: SshConnectOptions, ms = 10_000): Promise<SshTransport> {
  for (const deadline = Date.now() + ms; ; ) {
    const t = await SshTransport.connect(o).catch((e: unknown) => {
      if (Date.now() > deadline) throw e;
      return new Promise<undefined>((r) => setTimeout(() => r(undefined), 200));
    });
    if (t) return t;
  }
}

/**
 * Sends `h`'s sshd SIGHUP (it re-reads its config and re-executes, same PID) and returns once it
 * answers root again: whatever connects next, however loaded the machine, finds it listening.
 */
export async function reloadSshd(h: LabHost): Promise<void> {
  process.kill(h.pid, 'SIGHUP');
  await (await connectWhenBack(sshOptions(h))).close();
}

/** SshTransport.connect options for host h as its lab user (root), with the lab's key and known_hosts. */
export function sshOptions(h: LabHost, extra: Partial<SshConnectOptions> = {}): SshConnectOptions {
  return {
    name: h.name,
    host: h.address,
    port: h.port,
    user: h.user,
    privateKeyPath: lab.privateKeyPath,
    knownHostsPath: lab.knownHostsPath,
    connectTimeoutMs: 5000,
    ...extra,
  };
}

const CLI = join(packageRoot, 'dist/src/cli/main.js');

/** The real CLI (a child process) with the file's inventory and the state dir <dir>/state/<stateKey>, run in <dir>. */
export function runCli(args: string[], stateKey: string, timeout: number): Promise<Ran> {
  return runProcess(process.execPath, [CLI, ...args, '-i', inv, '--state-dir', join(dir, 'state', stateKey)], { cwd: dir, timeout });
}

/**
 * Wraps command `cmd` of host h's /usr/local/sbin (where the simulated node's emulated binaries are) to
 * inject a failure: the real one is moved to .<cmd>-real and a sh script takes its place that runs
 * `script` (it sees the arguments as "$@"; it may exit, or exec the real one itself) and then execs the
 * real command with the same arguments. Returns what puts the real command back.
 */
export function replaceCommand(h: LabHost, cmd: string, script: string): () => void {
  const sbin = lab.hostPath(h, '/usr/local/sbin');
  renameSync(join(sbin, cmd), join(sbin, `.${cmd}-real`));
  writeFileSync(join(sbin, cmd), `#!/bin/sh\n# injected by a test (test/support/lab.ts replaceCommand)\n${script}\nexec /usr/local/sbin/.${cmd}-real "$@"\n`);
  chmodSync(join(sbin, cmd), 0o755);
  return () => renameSync(join(sbin, `.${cmd}-real`), join(sbin, cmd));
}

/** Stops simulated node agents (src/lab/sim-host.ts) and checks each is gone. */
export async function stopAgents(agents: Iterable<{ pid?: number | undefined; stop(): Promise<void> }>): Promise<void> {
  for (const s of agents) {
    const pid = s.pid;
    await s.stop();
    if (pid) assert.equal(alive(pid), false, `agent ${pid} left running`);
  }
}
