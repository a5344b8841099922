/**
 * `wait_for`: until a command succeeds (and prints `stdout_contains`), a TCP port accepts
 * connections, or a path is present/absent. Tries 1 + `retries` (default 10) times, `delay`
 * (default 2s) apart, and stops early when the step's timeout would pass.
 *
 * One try is one round trip: the command's exec; a transport.stat for a path; for a port one
 * exec of a literal sh script (address and port are positional args) that connects from the
 * host with bash's /dev/tcp under `timeout 3` (bash and coreutils are on every kubeadm node; dash
 * has no /dev/tcp), falling back to `nc -z -w 3`, and fails with exit 127 naming both when
 * neither exists. No interpreter (python, node) is assumed on the host.
 *
 * probe: ONE try, never waits: ok when the condition already holds (facts of that try), else
 * `unknown` in a dry run and `change` ("will wait") in a real run.
 * apply: the loop; facts of the last try plus `attempts` and `elapsed_ms`; never changes
 * anything (changed: false).
 */
import type { WaitForParams } from '../runbook/schema-types.js';
import { displayCommand } from '../transport/quote.js';
import type { Action, ProbeResult, StepContext } from './types.js';
import { parseDuration } from './duration.js';
import { phase } from '../engine/profile.js';
import { absPath, run, stepError, toArgv } from './util.js';

export const PORT_SCRIPT = [
  'a=$1; p=$2',
  'if command -v bash >/dev/null 2>&1; then',
  '  if command -v timeout >/dev/null 2>&1; then',
  "    exec timeout 3 bash -c 'exec 3<>\"/dev/tcp/$1/$2\"' bash \"$a\" \"$p\"",
  '  fi',
  "  exec bash -c 'exec 3<>\"/dev/tcp/$1/$2\"' bash \"$a\" \"$p\"",
  'fi',
  'if command -v nc >/dev/null 2>&1; then exec nc -z -w 3 "$a" "$p"; fi',
  'echo "wait_for port: neither bash nor nc is installed on the host" >&2',
  'exit 127',
].join('\n');

type Check =
  | { kind: 'command'; argv: string[]; contains?: string }
  | { kind: 'port'; address: string; port: number }
  | { kind: 'path'; path: string; state: 'present' | 'absent' };

interface Try {
  ok: boolean;
  facts: Record<string, unknown>;
  why: string;
}

function checkOf(params: WaitForParams): Check {
  const given = [params.command !== undefined, params.port !== undefined, params.path !== undefined].filter(Boolean).length;
  if (given !== 1) throw stepError('wait_for: give exactly one of command, port or path');
  if (params.command !== undefined) {
    return { kind: 'command', argv: toArgv(params.command, 'wait_for.command'), ...(params.stdout_contains !== undefined ? { contains: params.stdout_contains } : {}) };
  }
  if (params.port !== undefined) {
    const port = Number(params.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw stepError(`wait_for.port: ${String(params.port)} is not a TCP port`);
    const address = params.address ?? '127.0.0.1';
    if (!/^[A-Za-z0-9.:_-]+$/.test(address) || address.startsWith('-')) throw stepError(`wait_for.address: "${address}" is not a host name or IP address`);
    return { kind: 'port', address, port };
  }
  return { kind: 'path', path: absPath(params.path, 'wait_for.path'), state: params.state ?? 'present' };
}

function display(c: Check): string {
  switch (c.kind) {
    case 'command':
      return displayCommand(c.argv);
    case 'port':
      return displayCommand(['bash', '-c', 'exec 3<>"/dev/tcp/$1/$2"', 'bash', c.address, String(c.port)]);
    case 'path':
      return `test ${c.state === 'present' ? '-e' : '! -e'} ${displayCommand([c.path])}`;
  }
}

async function tryOnce(ctx: StepContext, c: Check, timeoutMs?: number): Promise<Try> {
  const opts = timeoutMs !== undefined ? { timeoutMs } : {};
  switch (c.kind) {
    case 'command': {
      const r = await run(ctx, c.argv, opts);
      const stdout = r.stdout.replace(/\r?\n$/, '');
      const stderr = r.stderr.replace(/\r?\n$/, '');
      const ok = r.code === 0 && (c.contains === undefined || r.stdout.includes(c.contains));
      const why = r.code !== 0 ? `exit code ${r.code ?? (r.timedOut ? 'timeout' : 'killed')}${stderr ? `: ${stderr.split('\n').slice(-2).join(' ')}` : ''}` : `output does not contain ${JSON.stringify(c.contains)}`;
      return { ok, why, facts: { code: r.code ?? -1, stdout, stderr, changed: false, failed: !ok, duration_ms: r.durationMs } };
    }
    case 'port': {
      const r = await run(ctx, ['sh', '-c', PORT_SCRIPT, 'sh', c.address, String(c.port)], opts);
      const ok = r.code === 0;
      const why = r.code === 127 ? r.stderr.trim() || 'no port check available' : `${c.address}:${c.port} refuses connections`;
      return { ok, why, facts: { address: c.address, port: c.port, open: ok } };
    }
    case 'path': {
      const st = await ctx.transport.stat(c.path);
      const ok = c.state === 'present' ? st !== null : st === null;
      return { ok, why: `${c.path} is ${st ? 'present' : 'absent'}`, facts: { path: c.path, exists: st !== null } };
    }
  }
}

const sleep = (ms: number) => phase('wait', () => new Promise<void>((r) => setTimeout(r, ms)));

export const waitForAction: Action<WaitForParams, { check: Check }> = {
  type: 'wait_for',
  readOnly: true,

  async probe(ctx, params): Promise<ProbeResult<{ check: Check }>> {
    const check = checkOf(params);
    parseDuration(params.delay ?? '2s', 'wait_for.delay');
    const t = await tryOnce(ctx, check, ctx.timeoutMs);
    if (t.ok) return { status: 'ok', commands: [], summary: 'already true', state: { check }, facts: { ...t.facts, attempts: 1 } };
    return {
      status: ctx.dryRun ? 'unknown' : 'change',
      commands: [display(check)],
      summary: `not yet (${t.why}); will wait up to ${1 + (params.retries ?? 10)} tries`,
      state: { check },
    };
  },

  async apply(ctx, params, probe) {
    const check = probe?.state?.check ?? checkOf(params);
    const retries = params.retries ?? 10;
    const delay = parseDuration(params.delay ?? '2s', 'wait_for.delay');
    const started = Date.now();
    const deadline = ctx.timeoutMs !== undefined ? started + ctx.timeoutMs : Infinity;
    let last: Try | undefined;
    let attempts = 0;
    for (let i = 0; i <= retries; i++) {
      if (i > 0) {
        if (Date.now() + delay >= deadline) break;
        await sleep(delay);
      }
      const remaining = deadline === Infinity ? undefined : Math.max(1, deadline - Date.now());
      attempts++;
      last = await tryOnce(ctx, check, remaining);
      if (last.ok) break;
    }
    const facts = { ...(last?.facts ?? {}), attempts, elapsed_ms: Date.now() - started };
    const commands = [display(check)];
    if (last?.ok) return { changed: false, commands, facts, message: `true after ${attempts} ${attempts === 1 ? 'try' : 'tries'}` };
    return { changed: false, failed: true, commands, facts, message: `still not true after ${attempts} tries (${Date.now() - started} ms): ${last?.why ?? 'timed out'}` };
  },
};

export default waitForAction;
