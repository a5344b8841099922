/* Generated from the JSON Schema by scripts/gen-types.mjs. Do not edit: change the schema and run `npm run gen:types`. */

/**
 * A declarative, idempotent recovery procedure run by `runbook apply` across the hosts of an inventory.
 */
export type Runbook = {
  /**
   * Format version. Always `runbook/v1`.
   */
  apiVersion: "runbook/v1";
  /**
   * Short name, shown in plans, journals and history.
   */
  name: string;
  /**
   * What this runbook is for, for the operator reading it at 3 a.m.
   */
  description?: string;
  /**
   * Inventory pattern selecting the hosts: a group, a host, `all`, a glob (`cp-*`), or a comma list; `!name` excludes, `&name` intersects (Ansible pattern syntax).
   */
  hosts?: string;
  /**
   * Rolling batches: how many hosts are changed at once (a count, or a percentage of the selected hosts such as `30%`), or a ramp of those: `[1, "30%", "100%"]` is one host first, then a batch of 30% of the hosts, then all the rest (the last value repeats until every host has run). Each batch completes before the next starts. Default: all hosts in one batch.
   */
  serial?: BatchSize | [BatchSize, ...BatchSize[]];
  /**
   * Stop starting new batches once more than this percentage of a batch failed.
   */
  max_fail_percentage?: number;
  /**
   * A failure on any host stops every host after the current step.
   */
  any_errors_fatal?: boolean;
  /**
   * What happens to a host whose step fails: `rollback` restores it from its backup and runs the `rollback` steps; `rollback_all` does that and stops the run, then rolls back every other host of the run that changed anything (also those that finished their part), each newest change first; the recap names the host that failed and why; `stop` leaves it as it is; `continue` records the failure and goes on with the next step.
   */
  on_failure?: "rollback" | "rollback_all" | "stop" | "continue";
  /**
   * Default timeout of each step on a host.
   */
  timeout?: string;
  /**
   * Run every operation on the hosts (commands, file reads and writes, the lock, backups, rollback) through sudo. Wins over the inventory's ansible_become and -b; a play's or step's own `become` wins over it.
   */
  become?: boolean;
  /**
   * The user `become` runs as (default: the host's ansible_become_user, else root).
   */
  become_user?: string;
  vars?: Vars;
  vars_files?: VarsFiles;
  /**
   * Names of variables whose values are secret: they print as *** in the terminal, the journal, saved plans and JSON events.
   */
  secrets?: Identifier[];
  /**
   * The steps, run in order on every host (the single-play form; with `plays:` each play has its own).
   *
   * @minItems 1
   */
  steps?: [Step, ...Step[]];
  handlers?: Handlers;
  force_handlers?: ForceHandlers;
  /**
   * Several plays, run one after the other in one run (one run id, one journal, one lock per host). Instead of top-level `hosts`, `steps` and the failure settings; `vars`, `secrets`, `timeout` and `become` here apply to every play. Facts registered in a play are seen by later plays: on the same host by name, on any host as `hostvars['cp1'].name`.
   *
   * @minItems 1
   */
  plays?: [Play, ...Play[]];
  /**
   * Steps run on a host after its files were restored from the backup (on failure with `on_failure: rollback`, or by `runbook rollback ID`).
   */
  rollback?: Step[];
} & {
  [k: string]: unknown;
};
/**
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "batchSize".
 */
export type BatchSize = number | string;
/**
 * YAML files of variables for every play, read when the runbook is loaded; they win over `vars:`. See varsFiles.
 */
export type VarsFiles = string[];
/**
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "identifier".
 */
export type Identifier = string;
/**
 * One step: a name, exactly one action, and common options.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "step".
 */
export type Step = {
  /**
   * What the step does, in the operator's words.
   */
  name: string;
  /**
   * CEL condition; the step is skipped on a host where it is false.
   */
  when?: string;
  /**
   * Name under which the step's result is available to later steps.
   */
  register?: string;
  /**
   * Run the step once per item (`item` in templates). A list, or a template that yields one.
   */
  loop?: unknown[] | string;
  /**
   * Select steps with `--tags`.
   */
  tags?: string[];
  timeout?: Duration;
  /**
   * A failure is recorded but does not fail the host.
   */
  ignore_errors?: boolean;
  /**
   * Hide the step's parameters and output everywhere.
   */
  no_log?: boolean;
  /**
   * This step proves the host works again: the host's time to recover (recap and journal) runs from its first change to the end of its last successful `verifies` step.
   */
  verifies?: boolean;
  become?: boolean;
  become_user?: string;
  /**
   * Handler names (of this play's `handlers`) to run at the end of the play when this step changed something.
   */
  notify?: string | [string, ...string[]];
  /**
   * Not an action: a group of steps run in order. When one fails, the `rescue` steps run (and a rescued failure is not a failure of the host); the `always` steps run after either. `name`, `when`, `tags`, `become`, `timeout`, `ignore_errors` and `no_log` apply to every step inside.
   *
   * @minItems 1
   */
  block?: [Step, ...Step[]];
  /**
   * With `block`: steps run only when a step of the block failed. When they succeed the host goes on as if nothing failed; when one fails the host has failed (and `on_failure` applies after `always`).
   *
   * @minItems 1
   */
  rescue?: [Step, ...Step[]];
  /**
   * With `block`: steps run after the block (and its rescue), whether or not something failed.
   *
   * @minItems 1
   */
  always?: [Step, ...Step[]];
  /**
   * Not an action: the steps of another file (a list of steps, or a mapping with `steps`, optional `handlers` and `vars` defaults), relative to this file, put here when the runbook is loaded, as a block. Its handlers join the play's. `vars:` of this step set its variables.
   */
  import?: string;
  vars?: Vars1;
  /**
   * Not an action: run the handlers notified so far on this host, now (in their order), instead of at the end of the play.
   */
  flush_handlers?: true;
  /**
   * Try again up to this many times while the step fails or `until` is false (default 3 with `until`). Not in a dry run.
   */
  retries?: number;
  /**
   * A duration: a whole number and a unit, one of ms, s, m, h, d (`500ms`, `3s`, `5m`, `30d`).
   */
  delay?: string;
  /**
   * CEL over `result` (the step's result: code, stdout, changed...): the step is done when true; otherwise it is retried, and fails after the last try.
   */
  until?: string;
  /**
   * Run the step on one host of the batch only (the first host of the batch, or the next one when it failed before the step); its result is registered on every host of the batch, and its failure fails them all.
   */
  run_once?: boolean;
  /**
   * Run the step on another host of the run (its inventory name, templates allowed) or `localhost` (the operator's machine), over that host's connection and become. The result is registered for the host it was delegated for; a change it makes is the other host's to roll back.
   */
  delegate_to?: string;
  command?: CommandParams;
  shell?: ShellParams;
  file?: FileParams;
  copy?: CopyParams;
  move?: MoveParams;
  backup?: BackupParams;
  restore?: RestoreParams;
  service?: ServiceParams;
  wait_for?: WaitForParams;
  assert?: AssertParams;
  fetch?: FetchParams;
  x509?: X509Params;
  set_fact?: SetFactParams;
} & Step1;
/**
 * A duration: a whole number and a unit, one of ms, s, m, h, d (`500ms`, `3s`, `5m`, `30d`).
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "duration".
 */
export type Duration = string;
/**
 * Run one command from an argument list (no shell). Give a list, or an object with `argv` and guards.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "commandParams".
 */
export type CommandParams =
  | Argv
  | {
      argv: Argv;
      /**
       * Text sent to the command's standard input.
       */
      stdin?: string;
      env?: Env;
      /**
       * Working directory.
       */
      cwd?: string;
      /**
       * Skip the command when this path exists (it is what the command creates).
       */
      creates?: string;
      /**
       * Skip the command unless this path exists (it is what the command removes).
       */
      removes?: string;
      /**
       * Skip the command when this read-only check command exits 0.
       */
      unless?: [string | number | boolean, ...(string | number | boolean)[]] | string;
      /**
       * Run the command only when this read-only check command exits 0.
       */
      only_if?: [string | number | boolean, ...(string | number | boolean)[]] | string;
      /**
       * CEL over `result` (code, stdout, stderr): whether the run counts as a change. Default: true.
       */
      changed_when?: Expression | boolean;
      /**
       * CEL over `result`: whether the run counts as a failure. Default: `result.code != 0`.
       */
      failed_when?: Expression | boolean;
      read_only?: ReadOnly;
      writes?: Writes;
    };
/**
 * A command as a list of arguments. Each item is one argument, never split or interpreted by a shell; `{{ }}` templates allowed in each. Or one template that yields such a list: `"{{ ['kubeadm'] + renew_cmd }}"`.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "argv".
 */
export type Argv = [string | number | boolean, ...(string | number | boolean)[]] | string;
/**
 * A CEL expression (https://cel.dev), e.g. `size(certs.expiring) > 0`. No `{{ }}` around it.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "expression".
 */
export type Expression = string;
/**
 * The command only reads (Ansible's `check_mode: false` + `changed_when: false`): it runs during `plan` too, so later steps see its result, and it never counts as a change. Read-only by contract: the engine takes no backup for it and rollback never undoes it.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "readOnly".
 */
export type ReadOnly = boolean;
/**
 * An absolute path on the host. `{{ }}` templates allowed.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "path".
 */
export type Path = string;
/**
 * The host paths the command may change (files or directory trees; `{{ }}` templates allowed, and one that gives a list adds each path). Rollback counts its change as put back only when a backup taken before it holds every one of them; a command that may change the host and declares no `writes` is reported `not restored` after a rollback (`validate` warns when the runbook takes backups). `[]`: it changes no file on the host (a restart, an API call). Not needed with `read_only: true` or `changed_when: false`, which say it changes nothing.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "writes".
 */
export type Writes = Path[];
/**
 * Run a POSIX sh script. The script is literal text: pass values through `env` or `args` ($1, $2...), never with `{{ }}` inside the script.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "shellParams".
 */
export type ShellParams =
  | string
  | {
      /**
       * The sh script, without `{{ }}` templates.
       */
      script: string;
      /**
       * Positional parameters $1, $2, ... (templates allowed).
       */
      args?: (string | number | boolean)[];
      stdin?: string;
      env?: Env;
      cwd?: Path;
      /**
       * Skip the command when this path exists (it is what the command creates).
       */
      creates?: string;
      /**
       * Skip the command unless this path exists (it is what the command removes).
       */
      removes?: string;
      /**
       * Skip the command when this read-only check command exits 0.
       */
      unless?: [string | number | boolean, ...(string | number | boolean)[]] | string;
      /**
       * Run the command only when this read-only check command exits 0.
       */
      only_if?: [string | number | boolean, ...(string | number | boolean)[]] | string;
      /**
       * CEL over `result` (code, stdout, stderr): whether the run counts as a change. Default: true.
       */
      changed_when?: Expression | boolean;
      /**
       * CEL over `result`: whether the run counts as a failure. Default: `result.code != 0`.
       */
      failed_when?: Expression | boolean;
      read_only?: ReadOnly;
      writes?: Writes;
    };
/**
 * Permission bits as an octal string, e.g. `"0644"`.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "mode".
 */
export type Mode = string;
/**
 * Write a file atomically (temp file, then rename) from inline content or a file on the operator's machine.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "copyParams".
 */
export type CopyParams = {
  dest: Path;
  /**
   * The file's contents.
   */
  content?: string;
  /**
   * A file on the operator's machine, relative to the runbook.
   */
  src?: string;
  /**
   * An absolute path on the host. `{{ }}` templates allowed.
   */
  remote_src?: string;
  mode?: Mode;
  owner?: string;
  group?: string;
} & CopyParams1;
export type CopyParams1 = {
  [k: string]: unknown;
};
/**
 * Wait until a command succeeds (optionally printing something), a TCP port opens, or a path appears/disappears.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "waitForParams".
 */
export type WaitForParams = {
  command?: Argv;
  /**
   * With `command`: its output must contain this text.
   */
  stdout_contains?: string;
  /**
   * A TCP port that must accept connections (checked from the host).
   */
  port?: number;
  /**
   * With `port`: the address to connect to. Default: 127.0.0.1.
   */
  address?: string;
  path?: Path;
  /**
   * With `path`. Default: present.
   */
  state?: "present" | "absent";
  /**
   * How many more tries after the first. Default: 10.
   */
  retries?: number;
  /**
   * A duration: a whole number and a unit, one of ms, s, m, h, d (`500ms`, `3s`, `5m`, `30d`).
   */
  delay?: string;
} & WaitForParams1;
export type WaitForParams1 = {
  [k: string]: unknown;
};
/**
 * Read certificates (read-only): from files, every *.crt under a directory, or the client certificates embedded in kubeconfigs. Registers `certs` (name, path, subject, issuer, sans, not_before, not_after, days_left, is_ca, fingerprint) and `expiring` (names within `within`).
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "x509Params".
 */
export type X509Params = X509Params1 & {
  paths?: Path[];
  /**
   * An absolute path on the host. `{{ }}` templates allowed.
   */
  dir?: string;
  /**
   * Kubeconfig files; their embedded client-certificate-data (or the client-certificate file they point at) is read.
   */
  kubeconfigs?: Path[];
  /**
   * A duration (`30d`); certificates expiring sooner are listed in `expiring`. Templates allowed. Default: 30d.
   */
  within?: string;
};
export type X509Params1 = {
  [k: string]: unknown;
};
export type Step1 = {
  [k: string]: unknown;
};
/**
 * Steps run only when a changed step `notify`s them by name: once per host, at the end of the play (or at a `flush_handlers` step), in the order written here. Not run on a host whose run failed, unless `force_handlers`.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "handlers".
 */
export type Handlers = Step[];
/**
 * Run the notified handlers on a host even when one of its steps failed (before its rollback).
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "forceHandlers".
 */
export type ForceHandlers = boolean;
/**
 * YAML files of variables for this play, over its `vars:`. See varsFiles.
 */
export type VarsFiles1 = string[];
/**
 * YAML files of variables (mappings), relative to the runbook file; later files win. A file encrypted with age (`runbook encrypt`, or the age tool) is decrypted in memory with --identity-file or $RUNBOOK_AGE_IDENTITY, and every variable it sets is a secret (shown as ***). No templates in the paths.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "varsFiles".
 */
export type VarsFiles2 = string[];

/**
 * Variables with their defaults. Inventory group vars, host vars and `-e` override them, in that order.
 */
export interface Vars {
  [k: string]: unknown;
}
/**
 * Variables for this step only (on a block or an import: for the steps inside), over the play's and the runbook's; templates allowed.
 */
export interface Vars1 {
  [k: string]: unknown;
}
/**
 * Environment variables for the command.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "env".
 */
export interface Env {
  [k: string]: string | number | boolean;
}
/**
 * Make a path a directory, an empty file, or absent, with a mode and owner.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "fileParams".
 */
export interface FileParams {
  path: Path;
  /**
   * `directory` (made with parents), `touch` (created empty if missing), `absent` (removed, recursively), `file` (must exist; only mode/owner are set). Default: file.
   */
  state?: "directory" | "touch" | "absent" | "file";
  mode?: Mode;
  /**
   * User name or uid.
   */
  owner?: string;
  /**
   * Group name or gid.
   */
  group?: string;
}
/**
 * Move a file or directory (e.g. a stale certificate aside). Done when `src` is gone and `dest` exists.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "moveParams".
 */
export interface MoveParams {
  src: Path;
  /**
   * An absolute path on the host. `{{ }}` templates allowed.
   */
  dest: string;
  /**
   * A missing `src` (and missing `dest`) is not an error. Default: false.
   */
  missing_ok?: boolean;
}
/**
 * Copy paths into a backup directory with a manifest.json (path, type, size, mode, uid, gid, sha256 of every file) that rollback restores and verifies.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "backupParams".
 */
export interface BackupParams {
  /**
   * Files or directories to back up (missing ones are recorded as absent).
   *
   * @minItems 1
   */
  paths: [Path, ...Path[]];
  /**
   * An absolute path on the host. `{{ }}` templates allowed.
   */
  to: string;
}
/**
 * Restore paths from a backup directory made by `backup`, verifying sha256 and removing files that appeared since.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "restoreParams".
 */
export interface RestoreParams {
  from: Path;
  /**
   * Only these backed-up paths. Default: all.
   */
  paths?: Path[];
}
/**
 * Start, stop or restart a systemd unit.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "serviceParams".
 */
export interface ServiceParams {
  /**
   * Unit name, e.g. `kubelet`.
   */
  name: string;
  /**
   * `restarted` and `reloaded` always act (guard them with `when`).
   */
  state: "started" | "stopped" | "restarted" | "reloaded";
}
/**
 * Fail the host unless every CEL condition holds.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "assertParams".
 */
export interface AssertParams {
  that: Expression | [Expression, ...Expression[]];
  /**
   * Message when a condition is false (templates allowed; rendered only then, so a passing assertion never evaluates it).
   */
  fail_msg?: string;
}
/**
 * Copy a file from the host to the operator's machine; an existing local file is kept as `<dest>.<timestamp>.bak`.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "fetchParams".
 */
export interface FetchParams {
  src: Path;
  /**
   * Local path; `{{ host.name }}` keeps hosts apart.
   */
  dest: string;
  mode?: Mode;
}
/**
 * Set variables for the following steps on this host (values may be templates).
 */
export interface SetFactParams {
  [k: string]: unknown;
}
/**
 * One play: a host pattern and the steps run on those hosts, with its own batches and failure policy.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "play".
 */
export interface Play {
  /**
   * What the play does, shown in plans and the journal.
   */
  name: string;
  /**
   * Inventory pattern selecting the hosts: a group, a host, `all`, a glob (`cp-*`), or a comma list; `!name` excludes, `&name` intersects (Ansible pattern syntax).
   */
  hosts: string;
  /**
   * Rolling batches: how many hosts are changed at once (a count, or a percentage of the selected hosts such as `30%`), or a ramp of those: `[1, "30%", "100%"]` is one host first, then a batch of 30% of the hosts, then all the rest (the last value repeats until every host has run). Each batch completes before the next starts. Default: all hosts in one batch.
   */
  serial?: BatchSize | [BatchSize, ...BatchSize[]];
  /**
   * Stop starting new batches once more than this percentage of a batch failed.
   */
  max_fail_percentage?: number;
  /**
   * A failure on any host stops every host after the current step.
   */
  any_errors_fatal?: boolean;
  /**
   * What happens to a host whose step fails: `rollback` restores it from its backup and runs the `rollback` steps; `rollback_all` does that and stops the run, then rolls back every other host of the run that changed anything (also those that finished their part), each newest change first; the recap names the host that failed and why; `stop` leaves it as it is; `continue` records the failure and goes on with the next step.
   */
  on_failure?: "rollback" | "rollback_all" | "stop" | "continue";
  /**
   * A CEL expression (https://cel.dev), e.g. `size(certs.expiring) > 0`. No `{{ }}` around it.
   */
  order_by?: string;
  /**
   * A duration: a whole number and a unit, one of ms, s, m, h, d (`500ms`, `3s`, `5m`, `30d`).
   */
  timeout?: string;
  /**
   * Run this play's steps through sudo (default: the runbook's `become`).
   */
  become?: boolean;
  /**
   * The user this play's steps become (default: the runbook's `become_user`).
   */
  become_user?: string;
  vars?: Vars2;
  vars_files?: VarsFiles1;
  /**
   * The play's steps, run in order on each of its hosts.
   *
   * @minItems 1
   */
  steps: [Step, ...Step[]];
  handlers?: Handlers;
  force_handlers?: ForceHandlers;
  /**
   * Steps run on a host when its run is rolled back (after the restore), newest play first: only the plays the host took part in.
   */
  rollback?: Step[];
}
/**
 * Variables of this play, over the runbook's `vars` (inventory and `-e` still override them).
 */
export interface Vars2 {
  [k: string]: unknown;
}
/**
 * Variable names (letters, digits, underscore) and their values.
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "vars".
 */
export interface Vars3 {
  [k: string]: unknown;
}
/**
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "guards".
 */
export interface Guards {
  /**
   * An absolute path on the host. `{{ }}` templates allowed.
   */
  creates?: string;
  /**
   * An absolute path on the host. `{{ }}` templates allowed.
   */
  removes?: string;
  /**
   * A command as a list of arguments. Each item is one argument, never split or interpreted by a shell; `{{ }}` templates allowed in each. Or one template that yields such a list: `"{{ ['kubeadm'] + renew_cmd }}"`.
   */
  unless?: [string | number | boolean, ...(string | number | boolean)[]] | string;
  /**
   * A command as a list of arguments. Each item is one argument, never split or interpreted by a shell; `{{ }}` templates allowed in each. Or one template that yields such a list: `"{{ ['kubeadm'] + renew_cmd }}"`.
   */
  only_if?: [string | number | boolean, ...(string | number | boolean)[]] | string;
  /**
   * CEL over `result` (code, stdout, stderr): whether the run counts as a change. Default: true.
   */
  changed_when?: Expression | boolean;
  /**
   * CEL over `result`: whether the run counts as a failure. Default: `result.code != 0`.
   */
  failed_when?: Expression | boolean;
}
/**
 * Set variables for the following steps on this host (values may be templates).
 *
 * This interface was referenced by `undefined`'s JSON-Schema
 * via the `definition` "setFactParams".
 */
export interface Vars4 {
  [k: string]: unknown;
}
