// docker against the simulated dockershim runtime: ps, stop, kill, restart, rm, logs, version.
import { readFileSync } from 'node:fs';
import { images } from '../manifests.js';
import { tabwrite, unitsHumanDuration } from '../format.js';
import { containerLogPath, listedPods, type AgentState, type ContainerStatus, type Pod } from './state.js';
import { externalStop, removeSandbox, stopContainer } from './runtime.js';
import { runComponent } from './static-pods.js';
import { ago, answerWhenStopped, fail, imageId, ok, opt, type Answer } from './reply.js';

function dockerName(pod: Pod, c: ContainerStatus | 'POD'): string {
  return c === 'POD' ? `k8s_POD_${pod.name}_kube-system_${pod.uid}_${Math.max(0, pod.sandboxAttempt)}` : `k8s_${c.name}_${pod.name}_kube-system_${pod.uid}_${c.attempt}`;
}

interface DockerRow {
  id: string;
  image: string;
  command: string;
  created: string;
  status: string;
  names: string;
  running: boolean;
  pod: Pod;
  c?: ContainerStatus;
}

function dockerRows(st: AgentState, all: boolean): DockerRow[] {
  const rows: DockerRow[] = [];
  for (const pod of listedPods(st)) {
    for (const c of [...pod.history.slice(-1), ...(pod.container ? [pod.container] : [])]) {
      const running = c.state !== 'exited'; // a container being stopped is Up until its process has exited
      if (!all && !running) continue;
      rows.push({
        id: c.id, image: imageId(pod.image).slice(0, 12),
        command: `"${(pod.command.join(' ')).slice(0, 19)}…"`,
        created: ago(c.createdAt),
        status: running ? `Up ${unitsHumanDuration(Date.now() - new Date(c.startedAt ?? c.createdAt).getTime())}` : `Exited (${c.exitCode ?? 0}) ${ago(c.finishedAt ?? c.createdAt)}`,
        names: dockerName(pod, c), running, pod, c,
      });
    }
    if (pod.sandboxId && (all || pod.sandboxState === 'ready')) {
      rows.push({
        id: pod.sandboxId, image: images(st.node).pause, command: '"/pause"', created: ago(pod.sandboxCreatedAt),
        status: pod.sandboxState === 'ready' ? `Up ${unitsHumanDuration(Date.now() - new Date(pod.sandboxCreatedAt).getTime())}` : 'Exited (0) Less than a second ago',
        names: dockerName(pod, 'POD'), running: pod.sandboxState === 'ready', pod,
      });
    }
  }
  return rows;
}

function dockerFind(st: AgentState, ref: string): DockerRow | undefined {
  const rows = dockerRows(st, true);
  return rows.find((x) => x.names === ref) ?? rows.find((x) => x.id.startsWith(ref));
}

/** docker stop/restart -t (--time): seconds before SIGKILL, 10 by default */
function stopGraceMs(rest: string[]): number {
  const t = Number(opt(rest, '--time', '-t') ?? '10');
  return (Number.isFinite(t) && t >= 0 ? t : 10) * 1000;
}

/** docker restart: stop (SIGTERM, then SIGKILL after the grace period), and start the same container once it has exited */
function restart(st: AgentState, pod: Pod, c: ContainerStatus, graceMs: number): Promise<void> {
  return stopContainer(st, pod, 0, 'restarted', graceMs).then(() => {
    // the kubelet dropped the pod meanwhile, or the agent stops (an etcd started now would outlive it)
    if (pod.container !== c || st.pods.get(pod.component) !== pod || st.shuttingDown) return;
    c.state = 'starting';
    c.finishedAt = undefined;
    c.loaded = {};
    c.error = undefined;
    runComponent(st, pod, c);
  });
}

export function docker(st: AgentState, args: string[]): Answer {
  const verb = args.find((a) => !a.startsWith('-'));
  const rest = args.slice(args.indexOf(verb ?? '') + 1);
  // flags that take a value, per verb: -f is ps's --filter but rm's --force; -t is stop's --time but logs' --timestamps
  const valueFlags = {
    ps: ['--filter', '-f', '--format', '-n', '--last'],
    stop: ['--time', '-t', '--signal', '-s'],
    restart: ['--time', '-t', '--signal', '-s'],
    kill: ['--signal', '-s'],
    logs: ['--tail', '-n', '--since', '--until'],
  }[verb ?? ''] ?? [];
  const ids = rest.filter((a, i) => !a.startsWith('-') && !valueFlags.includes(rest[i - 1] ?? ''));
  const has = (...f: string[]) => f.some((x) => rest.includes(x));
  const noSuch = (id: string) => `Error response from daemon: No such container: ${id}\n`;
  switch (verb) {
    case 'ps': {
      let rows = dockerRows(st, has('-a', '--all'));
      const filters: string[] = [];
      rest.forEach((a, i) => {
        if ((a === '--filter' || a === '-f') && rest[i + 1]) filters.push(rest[i + 1]!);
        else if (a.startsWith('--filter=')) filters.push(a.slice(9));
      });
      for (const f of filters) {
        const [k, v = ''] = f.split('=');
        if (k === 'name') rows = rows.filter((x) => new RegExp(v).test(x.names));
        if (k === 'status') rows = rows.filter((x) => (x.running ? 'running' : 'exited') === v);
        if (k === 'id') rows = rows.filter((x) => x.id.startsWith(v));
      }
      if (has('-q', '--quiet')) return ok(rows.map((x) => x.id.slice(0, 12) + '\n').join(''));
      const fmt = opt(rest, '--format');
      if (fmt) {
        return ok(rows.map((x) => fmt
          .replace(/\{\{\s*\.ID\s*\}\}/g, x.id.slice(0, 12)).replace(/\{\{\s*\.Names\s*\}\}/g, x.names).replace(/\{\{\s*\.Image\s*\}\}/g, x.image)
          .replace(/\{\{\s*\.Status\s*\}\}/g, x.status).replace(/\{\{\s*\.Command\s*\}\}/g, x.command).replace(/\\t/g, '\t') + '\n').join(''));
      }
      const lines = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
      for (const x of rows) lines.push([x.id.slice(0, 12), x.image, x.command, x.created, x.status, '', x.names]);
      return ok(tabwrite(lines, 20, 3));
    }
    case 'stop':
    case 'kill':
    case 'restart':
    case 'rm': {
      let out = '';
      // docker kill and rm -f: SIGKILL at once; docker stop and restart: SIGTERM, SIGKILL after the grace period (-t)
      const graceMs = verb === 'kill' || verb === 'rm' ? 0 : stopGraceMs(rest);
      const stops: Promise<void>[] = [];
      // docker goes through every ID and reports those it could not handle once the others are done
      let errors = '';
      for (const id of ids) {
        const row = dockerFind(st, id);
        if (!row) {
          errors += noSuch(id);
          continue;
        }
        if (verb === 'rm' && row.running && !has('-f', '--force')) {
          errors += `Error response from daemon: You cannot remove a running container ${row.id}. Stop the container before attempting removal or force remove\n`;
          continue;
        }
        const { pod, c } = row;
        if (!c) {
          // the pause container: the kubelet recreates the whole pod
          stops.push(removeSandbox(st, pod, graceMs));
        } else if (verb === 'restart') {
          if (pod.container === c) stops.push(restart(st, pod, c, graceMs));
        } else {
          stops.push(externalStop(st, { pod, c }, graceMs).then(() => {
            if (verb === 'rm') pod.history = pod.history.filter((h) => h !== c);
          }));
        }
        out += id + '\n';
      }
      // the daemon answers once the containers have exited (and, for restart, started again)
      return answerWhenStopped(st, stops, out, errors || undefined);
    }
    case 'logs': {
      const row = ids[0] ? dockerFind(st, ids[0]) : undefined;
      if (!row?.c) return fail(noSuch(ids[0] ?? ''));
      let lines: string[] = [];
      try {
        lines = readFileSync(containerLogPath(st, row.c.id), 'utf8').split('\n').filter(Boolean);
      } catch { /* empty */ }
      const tail = opt(rest, '--tail', '-n');
      if (tail && tail !== 'all') lines = lines.slice(-Number(tail));
      return { code: 0, stdout: '', stderr: lines.map((l) => l + '\n').join('') };
    }
    case 'version':
      return ok('Client:\n Version:      18.06.3-ce\n\nServer:\n Engine:\n  Version:      18.06.3-ce\n');
    default:
      return fail(`docker: '${verb ?? ''}' is not a docker command.\nSee 'docker --help'\n`);
  }
}
