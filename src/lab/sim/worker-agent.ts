// The node agent of a worker (worker.ts): systemd's kubelet unit and the kubelet, nothing else.
// The kubelet starts as the control plane's does (./agent/kubelet-start.ts: kubelet.conf's client
// certificate checked where bootstrap.go checks it, an expired one stopping it), then tells
// the API server named in kubelet.conf that it is alive as its version does (../kubelet-report.ts, shared
// with the control plane's kubelet).
// Usage: node worker-agent.js <root>. systemctl/crictl/journalctl talk to it over <root>/run/sim/agent.sock.
// Like the control plane's agent (./agent/), all it keeps is one WorkerState, made once at start (createWorkerState)
// and passed to every part; what both kinds of node have comes from ./agent/state.ts.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadNode } from './node.js';
import { systemdAgo, systemdTime } from './format.js';
import { createNodeAgentState, journal, kubeletReport, nextPid, setUnit, stopUnit, unitExited, type AgentStatus, type KubeletReport, type KubeletUnitBase, type NodeAgentState } from './agent/state.js';
import { clientCreds, reportStatus, reportTick, startReporting } from './kubelet-report.js';
import { startKubelet } from './agent/kubelet-start.js';
import { fail, ok, type Reply } from './agent/reply.js';
import { serveRequests } from './agent/control.js';

/** a worker's kubelet unit reports (../kubelet-report.ts); the worker has nothing else */
type WorkerState = NodeAgentState<KubeletUnitBase & KubeletReport>;

/** The worker agent's state for the node under `root`; makes its run and log directories. */
function createWorkerState(root: string): WorkerState {
  return createNodeAgentState(root, kubeletReport());
}

function kubeletStartAttempt(st: WorkerState): void {
  st.node = loadNode(st.root);
  st.kubelet.mainPid = nextPid(st);
  st.kubelet.creds = undefined; // a new process: its client has what this start gives it
  journal(st, 'systemd[1]', 'Started kubelet: The Kubernetes Node Agent.');
  const started = startKubelet(st);
  if (!started) return;
  setUnit(st, 'active');
  st.kubelet.everActive = true;
  if (started.held) startReporting(st, clientCreds(st, started.held, started.files.kc));
}

function kubeletStop(st: WorkerState): void {
  stopUnit(st);
  st.kubelet.creds = undefined;
}

/** The kubelet's process has exited (unitExited): its client goes with it. */
function kubeletExited(st: WorkerState, how: string, result: 'exit-code' | 'signal'): void {
  st.kubelet.creds = undefined;
  unitExited(st, how, result);
}

function tick(st: WorkerState): void {
  const now = Date.now();
  if (st.kubelet.state === 'activating' && now >= st.kubelet.nextRetry) {
    st.kubelet.restarts += 1;
    journal(st, 'systemd[1]', `kubelet.service: Scheduled restart job, restart counter is at ${st.kubelet.restarts}.`);
    journal(st, 'systemd[1]', 'Stopped kubelet: The Kubernetes Node Agent.');
    kubeletStartAttempt(st);
  }
  reportTick(st, now, () => writeStatus(st));
  writeStatus(st);
}

// ---------------------------------------------------------------- status file and commands

export interface WorkerStatus extends AgentStatus {
  role: 'worker';
}

function snapshot(st: WorkerState): WorkerStatus {
  return {
    pid: process.pid,
    updatedAt: new Date().toISOString(),
    role: 'worker',
    kubelet: { state: st.kubelet.state, since: new Date(st.kubelet.since).toISOString(), everActive: st.kubelet.everActive, mainPid: st.kubelet.mainPid, restarts: st.kubelet.restarts, lastError: st.kubelet.lastError },
    pods: [],
    apiserver: { listening: false, address: st.node.advertiseAddress, port: st.node.apiPort },
    etcd: { listening: false, port: 0 },
    ...reportStatus(st),
  };
}

function writeStatus(st: WorkerState): void {
  const s = snapshot(st);
  const key = JSON.stringify({ ...s, updatedAt: '' });
  if (key === st.lastStatus) return;
  st.lastStatus = key;
  writeFileSync(st.statusFile + '.tmp', JSON.stringify(s, null, 2));
  renameSync(st.statusFile + '.tmp', st.statusFile);
}

/** systemd kills the kubelet's process (`systemctl kill`): Restart=always starts it again after RestartSec. */
function kubeletKilled(st: WorkerState): void {
  if (st.kubelet.state !== 'active') return;
  st.kubelet.mainPid = 0;
  kubeletExited(st, 'code=killed, status=15/TERM', 'signal');
}

/** `systemctl show [-p PROP[,PROP]]... [--value] UNIT`: a few of systemd's properties of the unit. */
function systemctlShow(st: WorkerState, args: string[], known: (u: string) => boolean): Reply {
  const props: string[] = [];
  const units: string[] = [];
  let value = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === 'show') continue;
    if (a === '-p' || a === '--property') props.push(...(args[++i] ?? '').split(','));
    else if (a.startsWith('--property=')) props.push(...a.slice('--property='.length).split(','));
    else if (a.startsWith('-p')) props.push(...a.slice(2).split(','));
    else if (a === '--value') value = true;
    else if (!a.startsWith('-')) units.push(a.replace(/\.service$/, ''));
  }
  const u = units[0] ?? 'kubelet';
  const k = st.kubelet;
  const state = u === 'kubelet' ? k.state : known(u) ? 'active' : 'inactive';
  const all: Record<string, string> = {
    Id: `${u}.service`,
    LoadState: known(u) ? 'loaded' : 'not-found',
    ActiveState: state,
    SubState: state === 'active' ? 'running' : state === 'activating' ? 'auto-restart' : 'dead',
    MainPID: String(u === 'kubelet' && state === 'active' ? k.mainPid : 0),
    NRestarts: String(u === 'kubelet' ? k.restarts : 0),
    ...(u === 'kubelet' && state === 'active' ? { ActiveEnterTimestamp: systemdTime(new Date(k.since)) } : {}),
  };
  const names = props.filter(Boolean).length ? props.filter(Boolean) : Object.keys(all);
  // systemd prints nothing for a property it does not have
  const lines = names.filter((n) => n in all).map((n) => (value ? all[n]! : `${n}=${all[n]!}`));
  return ok(lines.map((l) => l + '\n').join(''));
}

function systemctl(st: WorkerState, args: string[]): Reply {
  const positional = args.filter((a) => !a.startsWith('-'));
  const verb = positional[0];
  const units = positional.slice(1).map((u) => u.replace(/\.service$/, ''));
  const known = (u: string) => u === 'kubelet' || u === (st.node.runtime === 'docker' ? 'docker' : 'containerd');
  switch (verb) {
    case 'daemon-reload':
    case 'enable':
    case 'disable':
      return ok();
    case 'show':
      return systemctlShow(st, args, known);
    case 'kill': {
      if (!units.length) return fail('Too few arguments.\n');
      const bad = units.find((u) => !known(u));
      if (bad) return fail(`Failed to kill unit ${bad}.service: Unit ${bad}.service not loaded.\n`, 5);
      if (units.includes('kubelet')) kubeletKilled(st);
      writeStatus(st);
      return ok();
    }
    case 'start':
    case 'stop':
    case 'restart':
    case 'try-restart': {
      if (!units.length) return fail('Too few arguments.\n');
      const bad = units.find((u) => !known(u));
      if (bad) return fail(`Failed to ${verb === 'stop' ? 'stop' : verb === 'start' ? 'start' : 'restart'} ${bad}.service: Unit ${bad}.service not found.\n`, 5);
      if (units.includes('kubelet')) {
        if (verb === 'stop') kubeletStop(st);
        else if (verb === 'start') {
          if (st.kubelet.state === 'inactive' || st.kubelet.state === 'failed') kubeletStartAttempt(st);
        } else if (!(verb === 'try-restart' && st.kubelet.state === 'inactive')) {
          kubeletStop(st);
          kubeletStartAttempt(st);
        }
      }
      writeStatus(st);
      return ok();
    }
    case 'is-active': {
      const states = units.map((u) => (u === 'kubelet' ? st.kubelet.state : known(u) ? 'active' : 'inactive'));
      const quiet = args.includes('--quiet') || args.includes('-q');
      return { code: states.every((s) => s === 'active') ? 0 : 3, stdout: quiet ? '' : states.map((s) => s + '\n').join(''), stderr: '' };
    }
    case 'is-enabled':
      return units.every(known) ? ok(units.map(() => 'enabled\n').join('')) : fail(`Failed to get unit file state for ${units.find((u) => !known(u))}.service: No such file or directory\n`);
    case 'status': {
      const u = units[0] ?? 'kubelet';
      if (!known(u)) return fail(`Unit ${u}.service could not be found.\n`, 4);
      if (u !== 'kubelet') return ok(`● ${u}.service - ${u}\n     Loaded: loaded (/lib/systemd/system/${u}.service; enabled; vendor preset: enabled)\n     Active: active (running)\n`);
      const since = new Date(st.kubelet.since);
      const active = st.kubelet.state === 'active'
        ? `     Active: active (running) since ${systemdTime(since)}; ${systemdAgo(Date.now() - st.kubelet.since)}`
        : st.kubelet.state === 'activating'
          ? `     Active: activating (auto-restart) (Result: exit-code) since ${systemdTime(since)}; ${systemdAgo(Date.now() - st.kubelet.since)}`
          : '     Active: inactive (dead)';
      let tail: string[] = [];
      try {
        tail = readFileSync(st.journalFile, 'utf8').split('\n').filter(Boolean).slice(-10);
      } catch { /* no journal */ }
      const out = [
        `${st.kubelet.state === 'inactive' ? '○' : '●'} kubelet.service - kubelet: The Kubernetes Node Agent`,
        '     Loaded: loaded (/lib/systemd/system/kubelet.service; enabled; vendor preset: enabled)',
        '    Drop-In: /usr/lib/systemd/system/kubelet.service.d',
        '             └─10-kubeadm.conf',
        active,
        ...(st.kubelet.state === 'active' ? [`   Main PID: ${st.kubelet.mainPid} (kubelet)`] : []),
        '',
        ...tail,
      ].join('\n') + '\n';
      return { code: st.kubelet.state === 'active' ? 0 : 3, stdout: out, stderr: '' };
    }
    default:
      return fail(`Unknown command verb ${verb ?? ''}.\n`);
  }
}

function dispatch(st: WorkerState, cmd: string, args: string[]): Reply {
  switch (cmd) {
    case 'systemctl':
      return systemctl(st, args);
    case 'crictl':
      // a worker in these scenarios runs no pods the runbooks look at: an empty runtime
      if (args.includes('-q') || args.includes('--quiet')) return ok();
      return ok(args.includes('pods') ? 'POD ID              CREATED             STATE               NAME                NAMESPACE           ATTEMPT             RUNTIME\n' : 'CONTAINER           IMAGE               CREATED             STATE               NAME                ATTEMPT             POD ID              POD\n');
    case 'status':
      return ok(JSON.stringify(snapshot(st)));
    default:
      return fail(`unknown command ${cmd}\n`);
  }
}

function main(st: WorkerState): void {
  writeFileSync(join(st.runDir, 'agent.pid'), String(process.pid));
  kubeletStartAttempt(st); // boot: systemd starts the enabled kubelet unit
  const ctl = serveRequests(st.runDir, st.sockPath, (cmd, args) => dispatch(st, cmd, args));
  writeStatus(st);
  const timer = setInterval(() => tick(st), 100);
  const shutdown = () => {
    clearInterval(timer);
    ctl.close();
    rmSync(st.sockPath, { force: true });
    rmSync(join(st.runDir, 'agent.pid'), { force: true });
    try {
      const s = JSON.parse(readFileSync(st.statusFile, 'utf8')) as WorkerStatus;
      s.kubelet.state = 'inactive';
      s.pid = 0;
      writeFileSync(st.statusFile, JSON.stringify(s, null, 2));
    } catch { /* no status */ }
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('SIGHUP', () => undefined);
}

main(createWorkerState(resolve(process.argv[2] ?? '/')));
