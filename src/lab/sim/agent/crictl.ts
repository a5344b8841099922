// crictl against the simulated containerd: ps, pods, stop, rm, stopp, rmp, logs, inspect, version.
import { readFileSync } from 'node:fs';
import { tabwrite } from '../format.js';
import { containerLogPath, type AgentState } from './state.js';
import { externalStop, removeSandbox } from './runtime.js';
import { writeStatus } from './status.js';
import { ago, allContainers, fail, findContainer, findSandbox, imageId, ok, opt, type Reply } from './reply.js';

export function crictl(st: AgentState, args: string[]): Reply {
  const verb = args.find((a) => !a.startsWith('-'));
  const rest = args.slice(args.indexOf(verb ?? '') + 1);
  const flags = new Set(rest.filter((a) => a.startsWith('-')));
  const ids = rest.filter((a, i) => !a.startsWith('-') && !['--name', '--pod', '--state', '-o', '--output', '--tail', '--label'].includes(rest[i - 1] ?? ''));
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
      if (state) rows = rows.filter((x) => (x.c.state === 'running' ? 'running' : 'exited') === state.toLowerCase());
      if (quiet) return ok(rows.map((x) => x.c.id).join('\n') + (rows.length ? '\n' : ''));
      const lines = [['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID', 'POD']];
      for (const x of rows) {
        lines.push([x.c.id.slice(0, 13), imageId(x.pod.image).slice(0, 13), ago(x.c.createdAt), x.c.state === 'running' ? 'Running' : x.c.state === 'starting' ? 'Running' : 'Exited', x.c.name, String(x.c.attempt), x.pod.sandboxId.slice(0, 13), x.pod.name]);
      }
      return ok(tabwrite(lines, 20, 3));
    }
    case 'pods': {
      const name = opt(rest, '--name');
      let list = [...st.pods.values()].filter((p) => p.sandboxId);
      if (name) list = list.filter((p) => new RegExp(name).test(p.name));
      if (flags.has('--state') || opt(rest, '--state')) list = list.filter((p) => (p.sandboxState === 'ready' ? 'ready' : 'notready') === (opt(rest, '--state') ?? '').toLowerCase());
      if (quiet) return ok(list.map((p) => p.sandboxId).join('\n') + (list.length ? '\n' : ''));
      const lines = [['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT', 'RUNTIME']];
      for (const p of list) lines.push([p.sandboxId.slice(0, 13), ago(p.sandboxCreatedAt), p.sandboxState === 'ready' ? 'Ready' : 'NotReady', p.name, 'kube-system', String(p.sandboxAttempt), '(default)']);
      return ok(tabwrite(lines, 20, 3));
    }
    case 'stop': {
      if (!ids.length) return fail(`time="${new Date().toISOString()}" level=fatal msg="ID cannot be empty"\n`);
      let out = '';
      for (const id of ids) {
        const row = findContainer(st, id);
        if (!row) return fail(`E0000 00:00:00.000000 1 remote_runtime.go:366] "StopContainer from runtime service failed" err="rpc error: code = NotFound desc = an error occurred when try to find container \\"${id}\\": not found" containerID="${id}"\ntime="${new Date().toISOString()}" level=fatal msg="stopping the container \\"${id}\\": rpc error: code = NotFound desc = an error occurred when try to find container \\"${id}\\": not found"\n`, 1, out);
        externalStop(st, row);
        out += id + '\n';
      }
      writeStatus(st);
      return ok(out);
    }
    case 'rm': {
      let out = '';
      for (const id of ids) {
        const row = findContainer(st, id);
        if (!row) return fail(`time="${new Date().toISOString()}" level=fatal msg="removing the container \\"${id}\\": rpc error: code = NotFound desc = an error occurred when try to find container \\"${id}\\": not found"\n`, 1, out);
        if (row.c.state !== 'exited' && !(flags.has('-f') || flags.has('--force'))) {
          return fail(`time="${new Date().toISOString()}" level=fatal msg="removing the container \\"${id}\\": rpc error: code = Unknown desc = failed to remove container \\"${row.c.id}\\": cannot delete running task ${row.c.id}: failed precondition"\n`, 1, out);
        }
        externalStop(st, row);
        row.pod.history = row.pod.history.filter((h) => h !== row.c);
        out += id + '\n';
      }
      writeStatus(st);
      return ok(out);
    }
    case 'stopp':
    case 'rmp': {
      if (!ids.length && !(flags.has('-a') || flags.has('--all'))) return fail(`time="${new Date().toISOString()}" level=fatal msg="ID cannot be empty"\n`);
      const targets = ids.length ? ids : [...st.pods.values()].map((p) => p.sandboxId);
      let out = '';
      for (const id of targets) {
        const pod = findSandbox(st, id);
        if (!pod) return fail(`time="${new Date().toISOString()}" level=fatal msg="${verb === 'rmp' ? 'removing' : 'stopping'} the pod sandbox \\"${id}\\": rpc error: code = NotFound desc = an error occurred when try to find sandbox \\"${id}\\": not found"\n`, 1, out);
        if (verb === 'rmp' && pod.sandboxState === 'ready' && !(flags.has('-f') || flags.has('--force'))) {
          return fail(`time="${new Date().toISOString()}" level=fatal msg="removing the pod sandbox \\"${id}\\": rpc error: code = Unknown desc = pod sandbox \\"${pod.sandboxId}\\" is not stopped, please stop it first"\n`, 1, out);
        }
        if (pod.sandboxState === 'ready') out += `Stopped sandbox ${id}\n`;
        removeSandbox(st, pod);
        if (verb === 'rmp') {
          out += `Removed sandbox ${id}\n`;
          pod.sandboxId = pod.sandboxId; // the kubelet will create a new one
        }
      }
      writeStatus(st);
      return ok(out);
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
