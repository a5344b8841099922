/**
 * `command` (argv, no shell) and `shell` (a literal sh script with positional args).
 *
 * probe: the guards, concurrently: `creates`/`removes` (one transport.stat each) and the
 * read-only `unless`/`only_if` checks (one exec each) → `skip` with the reason. Otherwise:
 * `changed_when: false` → `ok` (the command still runs in apply, for its registered result:
 * state.run is true), a `changed_when` expression → `unknown` (known after it runs), no guard or
 * `changed_when: true` → `change`. No round trip when there is no guard.
 * apply: one exec. failed_when (default `result.code != 0`) and changed_when (default true) are
 * CEL over `result` = {code, stdout, stderr}; a timeout or a kill is always a failure.
 * Facts: {code, stdout, stderr, changed, failed, duration_ms} — stdout/stderr without the
 * trailing newline; code -1 when the command was killed or timed out.
 * `writes`: the host paths the command may change, as the step declares them (`changed_when:
 * false` declares none); the probe hands them to the engine (ProbeResult.writes), which counts the
 * change as covered only when a backup taken before it holds every one (src/engine/safety.ts).
 */
import type { CommandParams, ShellParams } from '../runbook/schema-types.js';
import type { Action, ApplyResult, ProbeResult, StepContext } from './types.js';
import { absPath, displayExec, envStrings, run, stepError, toArgv, type Scalar } from './util.js';

/** What a command says it may change: its `writes:`; `[]` under `changed_when: false` (it changes nothing); undefined when undeclared. */
export function declaredWrites<T>(spec: { writes?: T[]; changed_when?: unknown }): T[] | undefined {
  return spec.writes ?? (spec.changed_when === false ? [] : undefined);
}

export interface CommandSpec {
  argv: string[];
  stdin?: string;
  env?: Record<string, string>;
  cwd?: string;
  creates?: string;
  removes?: string;
  unless?: string[];
  only_if?: string[];
  changed_when?: string | boolean;
  failed_when?: string | boolean;
  /** read-only by contract: runs in the probe (plan too), never a change */
  read_only?: boolean;
  /** the host paths it may change, as declared (`writes:`) */
  writes?: string[];
}

export interface CommandState {
  /** apply runs the command (false when a guard skipped it) */
  run: boolean;
  /** read_only: the probe already ran it; apply reports this result instead of running it again */
  done?: ApplyResult;
}

type Guarded = {
  stdin?: string;
  env?: Record<string, Scalar>;
  cwd?: string;
  creates?: string;
  removes?: string;
  unless?: unknown;
  only_if?: unknown;
  changed_when?: string | boolean;
  failed_when?: string | boolean;
  read_only?: boolean;
  writes?: unknown;
};

/** `writes:` as expanded: each entry a path, or a list of paths (one template giving a list). */
function writesOf(v: unknown, what: string): string[] {
  if (!Array.isArray(v)) throw stepError(`${what}: expected a list of paths`);
  return v.flat().map((p) => absPath(p, what));
}

function guardsOf(p: Guarded, argv: string[], what: string): CommandSpec {
  const spec: CommandSpec = { argv };
  if (p.stdin !== undefined) spec.stdin = p.stdin;
  const env = envStrings(p.env);
  if (env) spec.env = env;
  if (p.cwd !== undefined) spec.cwd = absPath(p.cwd, `${what}.cwd`);
  if (p.creates !== undefined) spec.creates = absPath(p.creates, `${what}.creates`);
  if (p.removes !== undefined) spec.removes = absPath(p.removes, `${what}.removes`);
  if (p.unless !== undefined) spec.unless = toArgv(p.unless, `${what}.unless`);
  if (p.only_if !== undefined) spec.only_if = toArgv(p.only_if, `${what}.only_if`);
  if (p.changed_when !== undefined) spec.changed_when = p.changed_when;
  if (p.failed_when !== undefined) spec.failed_when = p.failed_when;
  if (p.read_only === true) spec.read_only = true;
  if (p.writes !== undefined) spec.writes = writesOf(p.writes, `${what}.writes`);
  return spec;
}

export function commandSpec(params: CommandParams): CommandSpec {
  if (Array.isArray(params) || typeof params === 'string') return { argv: toArgv(params, 'command') };
  if (typeof params !== 'object' || params === null) throw stepError('command: expected a list or an object with argv');
  return guardsOf(params as Guarded, toArgv(params.argv, 'command.argv'), 'command');
}

export function shellSpec(params: ShellParams): CommandSpec {
  if (typeof params === 'string') return { argv: ['sh', '-c', params, 'sh'] };
  if (typeof params !== 'object' || params === null || typeof params.script !== 'string') {
    throw stepError('shell: expected a script or an object with script');
  }
  const args = (params.args ?? []).map((a) => String(a));
  return guardsOf(params as Guarded, ['sh', '-c', params.script, 'sh', ...args], 'shell');
}

export function hasGuard(spec: CommandSpec): boolean {
  return (
    spec.creates !== undefined ||
    spec.removes !== undefined ||
    spec.unless !== undefined ||
    spec.only_if !== undefined ||
    spec.changed_when !== undefined
  );
}

function display(spec: CommandSpec): string {
  return displayExec(spec.argv, { ...(spec.env ? { env: spec.env } : {}), ...(spec.cwd ? { cwd: spec.cwd } : {}) });
}

export async function probeCommand(ctx: StepContext, spec: CommandSpec): Promise<ProbeResult<CommandState>> {
  const checks: Promise<string | undefined>[] = [];
  if (spec.creates !== undefined) {
    const p = spec.creates;
    checks.push(ctx.transport.stat(p).then((st) => (st ? `${p} exists (creates)` : undefined)));
  }
  if (spec.removes !== undefined) {
    const p = spec.removes;
    checks.push(ctx.transport.stat(p).then((st) => (st ? undefined : `${p} does not exist (removes)`)));
  }
  if (spec.unless !== undefined) {
    const argv = spec.unless;
    checks.push(run(ctx, argv).then((r) => (r.code === 0 ? `unless check succeeded: ${display({ argv })}` : undefined)));
  }
  if (spec.only_if !== undefined) {
    const argv = spec.only_if;
    checks.push(run(ctx, argv).then((r) => (r.code !== 0 ? `only_if check failed: ${display({ argv })}` : undefined)));
  }
  const reasons = (await Promise.all(checks)).filter((r): r is string => r !== undefined);
  const commands = [display(spec)];
  if (reasons.length) return { status: 'skip', commands: [], summary: reasons[0], state: { run: false } };
  if (spec.read_only) return probeReadOnly(ctx, spec);
  const writes = declaredWrites(spec);
  const declared = writes ? { writes } : {};
  if (spec.changed_when === false) {
    return { status: 'ok', acts: true, commands, summary: 'runs for its result; reports no change (changed_when: false)', state: { run: true }, ...declared };
  }
  if (typeof spec.changed_when === 'string') {
    return { status: 'unknown', commands, summary: `change decided after it runs: ${spec.changed_when}`, state: { run: true }, ...declared };
  }
  return {
    status: 'change',
    commands,
    summary: hasGuard(spec) ? 'will run' : 'will run (no guard: creates, removes, unless, only_if or changed_when)',
    state: { run: true },
    ...declared,
  };
}

/**
 * A read-only command runs here, in the probe (so in `plan` too): its result is the step's facts,
 * it never counts as a change, and apply hands back this same result instead of running it twice.
 * A failure (failed_when, default a non-zero exit) fails the step in plan and apply alike.
 */
async function probeReadOnly(ctx: StepContext, spec: CommandSpec): Promise<ProbeResult<CommandState>> {
  const res = await applyCommand(ctx, { ...spec, changed_when: false });
  if (res.failed && ctx.dryRun) throw stepError(`read-only command failed: ${res.message ?? 'failed'}`);
  // in apply the failure is the apply's result, so retries / until run the command again
  if (res.failed) return { status: 'ok', commands: res.commands, summary: 'read-only: ran for its result', state: { run: false, done: { ...res, message: `read-only command failed: ${res.message ?? 'failed'}` } }, ...(res.facts ? { facts: res.facts } : {}) };
  return { status: 'ok', commands: res.commands, summary: 'read-only: ran for its result', state: { run: false, done: res }, ...(res.facts ? { facts: res.facts } : {}) };
}

function trimEnd(s: string): string {
  return s.replace(/\r?\n$/, '');
}

function decide(ctx: StepContext, expr: string | boolean | undefined, fallback: boolean | string, result: Record<string, unknown>, what: string): boolean {
  const e = expr ?? fallback;
  if (typeof e === 'boolean') return e;
  const v = ctx.evaluate(e, { result });
  if (typeof v !== 'boolean') throw stepError(`${what} \`${e}\` must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

export async function applyCommand(ctx: StepContext, spec: CommandSpec, probe?: ProbeResult<CommandState>): Promise<ApplyResult> {
  if (probe && probe.status === 'skip') return { changed: false, commands: [], message: probe.summary };
  if (probe?.state.done) return probe.state.done;
  const r = await run(ctx, spec.argv, {
    ...(spec.stdin !== undefined ? { stdin: spec.stdin } : {}),
    ...(spec.env ? { env: spec.env } : {}),
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
  });
  const result = { code: r.code ?? -1, stdout: trimEnd(r.stdout), stderr: trimEnd(r.stderr) };
  let failed: boolean;
  let changed: boolean;
  let message: string | undefined;
  try {
    failed = r.timedOut || r.code === null ? true : decide(ctx, spec.failed_when, 'result.code != 0', result, 'failed_when');
    changed = decide(ctx, spec.changed_when, true, result, 'changed_when');
  } catch (e) {
    failed = true;
    changed = true;
    message = e instanceof Error ? e.message : String(e);
  }
  if (failed && !message) {
    const why = r.timedOut ? `timed out after ${ctx.timeoutMs ?? '?'} ms` : r.code === null ? `killed${r.signal ? ` by ${r.signal}` : ''}` : `exit code ${r.code}`;
    const tail = (result.stderr || result.stdout).split('\n').slice(-5).join('\n');
    message = `${why}${tail ? `: ${tail}` : ''}`;
  }
  return {
    changed,
    failed,
    ...(message ? { message } : {}),
    commands: [display(spec)],
    facts: { ...result, changed, failed, duration_ms: r.durationMs },
  };
}

export const commandAction: Action<CommandParams, CommandState> = {
  type: 'command',
  readOnly: false,
  probe: async (ctx, params) => probeCommand(ctx, commandSpec(params)),
  apply: async (ctx, params, probe) => applyCommand(ctx, commandSpec(params), probe),
};

export default commandAction;
