/**
 * `service`: a systemd unit started, stopped, restarted or reloaded.
 *
 * probe: started/stopped: one exec `systemctl is-active -- NAME` (`active` counts as started;
 * `activating`, `reloading`, `deactivating`, `failed`, `inactive` do not — an `activating`
 * kubelet in a crash loop is not started, so `started` reports a change and runs `systemctl start`;
 * `stopped` is ok for inactive, failed and unknown units). restarted/reloaded: no round trip,
 * always `change`.
 * apply: one exec `systemctl start|stop|restart|reload -- NAME`.
 * undo: started → stop, stopped → start (only when apply changed the state); none for
 * restarted/reloaded.
 */
import type { ServiceParams } from '../runbook/schema-types.js';
import { displayCommand } from '../transport/quote.js';
import type { Action, UndoRecord } from './types.js';
import { describeExit, run, runOk, stepError } from './util.js';

export interface ServiceState {
  name: string;
  /** `systemctl is-active` output, when probed */
  active?: string;
  act: boolean;
}

const VERB = { started: 'start', stopped: 'stop', restarted: 'restart', reloaded: 'reload' } as const;

function unitName(params: ServiceParams): string {
  const name = params.name;
  if (typeof name !== 'string' || name.length === 0) throw stepError('service.name: expected a unit name');
  if (name.startsWith('-') || /[\s/]/.test(name)) throw stepError(`service.name: "${name}" is not a unit name`);
  return name;
}

function argv(params: ServiceParams, name: string): string[] {
  const verb = VERB[params.state];
  if (!verb) throw stepError(`service.state: "${String(params.state)}" is not one of started, stopped, restarted, reloaded`);
  return ['systemctl', verb, '--', name];
}

export const serviceAction: Action<ServiceParams, ServiceState> = {
  type: 'service',
  readOnly: false,

  async probe(ctx, params) {
    const name = unitName(params);
    const cmd = argv(params, name);
    if (params.state === 'restarted' || params.state === 'reloaded') {
      return { status: 'change', commands: [displayCommand(cmd)], summary: `${VERB[params.state]} ${name}`, state: { name, act: true } };
    }
    const r = await run(ctx, ['systemctl', 'is-active', '--', name]);
    const active = r.stdout.trim().split('\n')[0] || 'unknown';
    const isActive = active === 'active';
    const act = params.state === 'started' ? !isActive : isActive || active === 'activating' || active === 'reloading' || active === 'deactivating';
    return {
      status: act ? 'change' : 'ok',
      commands: act ? [displayCommand(cmd)] : [],
      summary: act ? `${name} is ${active}: ${VERB[params.state]}` : `${name} is ${active}`,
      state: { name, active, act },
    };
  },

  async apply(ctx, params, probe) {
    const { name, act, active } = probe.state;
    if (!act) return { changed: false, commands: [] };
    const cmd = argv(params, name);
    const r = await run(ctx, cmd);
    if (r.code !== 0) {
      return { changed: true, failed: true, message: `\`${displayCommand(cmd)}\` ${describeExit(r)}`, commands: [displayCommand(cmd)] };
    }
    const undo: UndoRecord | undefined =
      params.state === 'started' ? { name, state: 'stopped', was: active } : params.state === 'stopped' ? { name, state: 'started', was: active } : undefined;
    return { changed: true, commands: [displayCommand(cmd)], ...(undo ? { undo } : {}) };
  },

  async undo(ctx, record) {
    const name = String(record.name);
    const state = record.state === 'started' ? 'started' : 'stopped';
    await runOk(ctx, argv({ name, state }, name));
  },
};

export default serviceAction;
