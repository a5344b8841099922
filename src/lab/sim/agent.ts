// The node agent: one long-running process per simulated node. It plays systemd's kubelet unit, the
// kubelet (static pods from manifests/, container restarts, client-certificate checks) and the
// container runtime with the control-plane containers: kube-apiserver (a real HTTPS server with
// client-certificate authentication) and etcd (a real TLS server requiring a client certificate).
// Usage: node agent.js <root>. Emulated systemctl/crictl/docker talk to it over <root>/run/sim/agent.sock.
// The parts live in ./agent/: state (one object passed to every part), kubelet, static pods, runtime,
// API server, the emulated commands and the control socket; this file boots and stops them.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createAgentState, listedPods, type AgentState, type AgentStatus } from './agent/state.js';
import { kubeletStartAttempt, tick } from './agent/kubelet.js';
import { stopContainer } from './agent/runtime.js';
import { writeStatus } from './agent/status.js';
import { serveControl } from './agent/control.js';
import { openRuntimeSockets } from './agent/runtime-sockets.js';

export type { AgentStatus, ContainerStatus, PodStatus, UnitState } from './agent/state.js';

/** An etcd left by an agent that was killed (SIGKILL): stop it by its recorded PID, if it is still that etcd. */
function reapStaleEtcd(st: AgentState): void {
  let pid = 0;
  try {
    pid = Number(readFileSync(join(st.runDir, 'etcd.pid'), 'utf8'));
  } catch {
    return;
  }
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (pid > 0 && cmd.includes(st.r('/var/lib/etcd'))) process.kill(pid, 'SIGKILL');
  } catch { /* gone */ }
  rmSync(join(st.runDir, 'etcd.pid'), { force: true });
}

function main(st: AgentState): void {
  reapStaleEtcd(st);
  writeFileSync(join(st.runDir, 'agent.pid'), String(process.pid));
  // boot: systemd starts the enabled kubelet unit
  kubeletStartAttempt(st);
  const ctl = serveControl(st);
  const closeRuntimeSockets = openRuntimeSockets(st);
  writeStatus(st);
  const timer = setInterval(() => tick(st), 100);
  const shutdown = async () => {
    st.shuttingDown = true; // a `docker restart` waiting for the same exit must not start etcd again
    clearInterval(timer);
    // etcd holds the data dir and its ports until it has exited: wait for it, SIGKILL after 3 s (a container
    // already stopping too: its SIGKILL comes forward), before stopNode's SIGKILL to the agent after 5 s
    let pods = listedPods(st);
    while (pods.length) {
      await Promise.all(pods.map((p) => stopContainer(st, p, 0, 'node agent stopped', 3000)));
      pods = listedPods(st).filter((p) => p.proc);
    }
    rmSync(join(st.runDir, 'etcd.pid'), { force: true });
    ctl.close();
    closeRuntimeSockets();
    rmSync(st.sockPath, { force: true });
    rmSync(join(st.runDir, 'agent.pid'), { force: true });
    try {
      const s = JSON.parse(readFileSync(st.statusFile, 'utf8')) as AgentStatus;
      s.kubelet.state = 'inactive';
      s.apiserver.listening = false;
      s.etcd.listening = false;
      s.pid = 0;
      writeFileSync(st.statusFile, JSON.stringify(s, null, 2));
    } catch { /* empty */ }
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  process.on('SIGHUP', () => undefined);
}

main(createAgentState(resolve(process.argv[2] ?? '/')));
