// What the emulated commands answer, and the container listing crictl and docker share.
import { createHash } from 'node:crypto';
import { unitsHumanDuration } from '../format.js';
import { listedPods, type AgentState, type ContainerStatus, type Pod } from './state.js';
import { writeStatus } from './status.js';

export interface Reply {
  code: number;
  stdout: string;
  stderr: string;
}
export const ok = (stdout = ''): Reply => ({ code: 0, stdout, stderr: '' });
export const fail = (stderr: string, code = 1, stdout = ''): Reply => ({ code, stdout, stderr });
/** docker stop and crictl stop answer once the containers have exited: a reply may wait for that */
export type Answer = Reply | Promise<Reply>;

/**
 * The runtime answers a stop once its containers have exited (docker's daemon; containerd's StopContainer
 * and StopPodSandbox): `error`, when there is one, only after the stops started before it are done.
 */
export function answerWhenStopped(st: AgentState, stops: Promise<void>[], out: string, error?: string): Promise<Reply> {
  return Promise.all(stops).then(() => {
    writeStatus(st);
    return error === undefined ? ok(out) : fail(error, 1, out);
  });
}

export interface Row {
  pod: Pod;
  c: ContainerStatus;
}

export function allContainers(st: AgentState, includeExited: boolean): Row[] {
  const rows: Row[] = [];
  for (const pod of listedPods(st)) {
    for (const c of [...pod.history.slice(-1), ...(pod.container ? [pod.container] : [])]) {
      if (!includeExited && c.state === 'exited') continue;
      rows.push({ pod, c });
    }
  }
  return rows.sort((a, b) => b.c.createdAt.localeCompare(a.c.createdAt));
}

export function findContainer(st: AgentState, id: string): Row | undefined {
  for (const pod of listedPods(st)) {
    for (const c of [...pod.history, ...(pod.container ? [pod.container] : [])]) {
      if (c.id.startsWith(id) && id.length >= 1) return { pod, c };
    }
  }
  return undefined;
}

export function findSandbox(st: AgentState, id: string): Pod | undefined {
  for (const pod of listedPods(st)) if (pod.sandboxId && pod.sandboxId.startsWith(id)) return pod;
  return undefined;
}

export function imageId(image: string): string {
  return createHash('sha256').update(image).digest('hex');
}

export function ago(iso: string): string {
  return unitsHumanDuration(Date.now() - new Date(iso).getTime()) + ' ago';
}

export function opt(args: string[], ...names: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    for (const n of names) {
      if (a === n) return args[i + 1];
      if (a.startsWith(n + '=')) return a.slice(n.length + 1);
    }
  }
  return undefined;
}
