// crictl against the simulated containerd: ps, pods, stop, rm, stopp, rmp, logs, inspect, version.
import { readFileSync } from 'node:fs';
import { tabwrite } from '../format.js';
import { containerLogPath, listedPods, type AgentState, type ContainerStatus } from './state.js';
import { externalStop, removeSandbox } from './runtime.js';
import { ago, allContainers, answerWhenStopped, fail, findContainer, findSandbox, imageId, ok, opt, type Answer } from './reply.js';

// containerd's StopContainer with crictl's default --timeout 0, and StopPodSandbox, send SIGKILL at once
const CRICTL_GRACE_MS = 0;

/** crictl stop --timeout (-t): seconds before SIGKILL, 0 by default */
function timeoutMs(rest: string[]): number {
  const t = Number(opt(rest, '--timeout', '-t') ?? '0');
  return Number.isFinite(t) && t > 0 ? t * 1000 : CRICTL_GRACE_MS;
}

/** crictl's state: a container being stopped is still running until its process has exited */
const criState = (s: ContainerStatus['state']): 'Running' | 'Exited' => (s === 'exited' ? 'Exited' : 'Running');

export function crictl(st: AgentState, args: string[]): Answer {
  const verb = args.find((a) => !a.startsWith('-'));
  const rest = args.slice(args.indexOf(verb ?? '') + 1);
  // short flags may be combined, as crictl allows (rmp -af = rmp -a -f)
  const flags = new Set(rest.filter((a) => a.startsWith('-')).flatMap((a) => (/^-[a-zA-Z]{2,}$/.test(a) ? [...a.slice(1)].map((x) => `-${x}`) : [a])));
  // flags that take a value; -t is stop's --timeout (for logs it is --timestamps, which takes none)
  const valueFlags = ['--name', '--pod', '--state', '-o', '--output', '--tail', '--label', ...(verb === 'stop' ? ['--timeout', '-t'] : [])];
  const ids = rest.filter((a, i) => !a.startsWith('-') && !valueFlags.includes(rest[i - 1] ?? ''));
  const quiet = flags.has('-q') || flags.has('--quiet');
  switch (verb) {
    case 'ps': {
      const all = flags.has('-a') || flags.has('--all');
      const name = opt(rest, '--name');
      const podF = opt(rest, '--pod', '-p');
      const state = opt(rest, '--state', '-s');
      let rows = allContainers(st, all || !!state);
      if (name) rows = rows.filter((x) => new RegExp(name).test(x.c.name));
      if (podF) rows = rows.filter((x) => x.pod.sandboxId.startsWith(podF));
      if (state) rows = rows.filter((x) => criState(x.c.state).toLowerCase() === state.toLowerCase());
      if (quiet) return ok(rows.map((x) => x.c.id).join('\n') + (rows.length ? '\n' : ''));
      const lines = [['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID', 'POD']];
      for (const x of rows) {
        lines.push([x.c.id.slice(0, 13), imageId(x.pod.image).slice(0, 13), ago(x.c.createdAt), criState(x.c.state), x.c.name, String(x.c.attempt), x.pod.sandboxId.slice(0, 13), x.pod.name]);
      }
      return ok(tabwrite(lines, 20, 3));
    }
    case 'pods': {
      const name = opt(rest, '--name');
      let list = listedPods(st).filter((p) => p.sandboxId);
      if (name) list = list.filter((p) => new RegExp(name).test(p.name));
      if (flags.has('--state') || opt(rest, '--state')) list = list.filter((p) => (p.sandboxState === 'ready' ? 'ready' : 'notready') === (opt(rest, '--state') ?? '').toLowerCase());
      if (quiet) return ok(list.map((p) => p.sandboxId).join('\n') + (list.length ? '\n' : ''));
      const lines = [['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT', 'RUNTIME']];
      for (const p of list) lines.push([p.sandboxId.slice(0, 13), ago(p.sandboxCreatedAt), p.sandboxState === 'ready' ? 'Ready' : 'NotReady', p.name, 'kube-system', String(p.sandboxAttempt), '(default)']);
      return ok(tabwrite(lines, 20, 3));
    }
    case 'stop': {
      if (!ids.length) return fail(`time="${new Date().toISOString()}" level=fatal msg="ID cannot be empty"\n`);
      // crictl handles the IDs in order and ends at the first error
      const stops: Promise<void>[] = [];
      let out = '';
      for (const id of ids) {
        const row = findContainer(st, id);
        if (!row) return answerWhenStopped(st, stops, out, `E0000 00:00:00.000000 1 remote_runtime.go:366] "StopContainer from runtime service failed" err="rpc error: code = NotFound desc = an error occurred when try to find container \\"${id}\\": not found" containerID="${id}"\ntime="${new Date().toISOString()}" level=fatal msg="stopping the container \\"${id}\\": rpc error: code = NotFound desc = an error occurred when try to find container \\"${id}\\": not found"\n`);
        stops.push(externalStop(st, row, timeoutMs(rest)));
        out += id + '\n';
      }
      return answerWhenStopped(st, stops, out);
    }
    case 'rm': {
      const stops: Promise<void>[] = [];
      let out = '';
      for (const id of ids) {
        const row = findContainer(st, id);
        if (!row) return answerWhenStopped(st, stops, out, `time="${new Date().toISOString()}" level=fatal msg="removing the container \\"${id}\\": rpc error: code = NotFound desc = an error occurred when try to find container \\"${id}\\": not found"\n`);
        if (row.c.state !== 'exited' && !(flags.has('-f') || flags.has('--force'))) {
          return answerWhenStopped(st, stops, out, `time="${new Date().toISOString()}" level=fatal msg="removing the container \\"${id}\\": rpc error: code = Unknown desc = failed to remove container \\"${row.c.id}\\": cannot delete running task ${row.c.id}: failed precondition"\n`);
        }
        stops.push(externalStop(st, row, CRICTL_GRACE_MS).then(() => {
          row.pod.history = row.pod.history.filter((h) => h !== row.c);
        }));
        out += id + '\n';
      }
      return answerWhenStopped(st, stops, out);
    }
    case 'stopp':
    case 'rmp': {
      if (!ids.length && !(flags.has('-a') || flags.has('--all'))) return fail(`time="${new Date().toISOString()}" level=fatal msg="ID cannot be empty"\n`);
      const targets = ids.length ? ids : listedPods(st).map((p) => p.sandboxId);
      const stops: Promise<void>[] = [];
      let out = '';
      for (const id of targets) {
        const pod = findSandbox(st, id);
        if (!pod) return answerWhenStopped(st, stops, out, `time="${new Date().toISOString()}" level=fatal msg="${verb === 'rmp' ? 'removing' : 'stopping'} the pod sandbox \\"${id}\\": rpc error: code = NotFound desc = an error occurred when try to find sandbox \\"${id}\\": not found"\n`);
        if (verb === 'rmp' && pod.sandboxState === 'ready' && !(flags.has('-f') || flags.has('--force'))) {
          return answerWhenStopped(st, stops, out, `time="${new Date().toISOString()}" level=fatal msg="removing the pod sandbox \\"${id}\\": rpc error: code = Unknown desc = pod sandbox \\"${pod.sandboxId}\\" is not stopped, please stop it first"\n`);
        }
        if (pod.sandboxState === 'ready') out += `Stopped sandbox ${id}\n`;
        stops.push(removeSandbox(st, pod, CRICTL_GRACE_MS));
        if (verb === 'rmp') out += `Removed sandbox ${id}\n`; // the kubelet will create a new one
      }
      return answerWhenStopped(st, stops, out);
    }
    case 'logs': {
      const id = ids[0];
      const row = id ? findContainer(st, id) : undefined;
      if (!row) return fail(`time="${new Date().toISOString()}" level=fatal msg="rpc error: code = NotFound desc = an error occurred when try to find container \\"${id ?? ''}\\": not found"\n`);
      const tail = Number(opt(rest, '--tail') ?? '-1');
      let lines: string[] = [];
      try {
        lines = readFileSync(containerLogPath(st, row.c.id), 'utf8').split('\n').filter(Boolean);
      } catch { /* empty */ }
      if (tail >= 0) lines = lines.slice(-tail);
      return { code: 0, stdout: '', stderr: lines.map((l) => l + '\n').join('') };
    }
    case 'inspect': {
      const row = ids[0] ? findContainer(st, ids[0]) : undefined;
      if (!row) return fail(`time="${new Date().toISOString()}" level=fatal msg="getting the status of the container: not found"\n`);
      return ok(JSON.stringify({ status: { id: row.c.id, metadata: { name: row.c.name, attempt: row.c.attempt }, state: row.c.state === 'exited' ? 'CONTAINER_EXITED' : 'CONTAINER_RUNNING', createdAt: row.c.createdAt, startedAt: row.c.startedAt, finishedAt: row.c.finishedAt ?? '0001-01-01T00:00:00Z', exitCode: row.c.exitCode ?? 0, image: { image: row.pod.image }, labels: { 'io.kubernetes.container.name': row.c.name, 'io.kubernetes.pod.name': row.pod.name, 'io.kubernetes.pod.namespace': 'kube-system', 'io.kubernetes.pod.uid': row.pod.uid } } }, null, 2) + '\n');
    }
    case 'version':
      return ok(`Version:  0.1.0\nRuntimeName:  containerd\nRuntimeVersion:  v1.7.22\nRuntimeApiVersion:  v1\n`);
    default:
      return fail(`No help topic for '${verb ?? ''}'\n`);
  }
}
