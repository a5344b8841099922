// The container runtime's UNIX sockets, where kubeadm's CRI detection and a runbook look for them:
// /run/containerd/containerd.sock on every node (docker >= 18.09 runs on a bundled containerd, so a docker
// node has it too) and /var/run/docker.sock on a docker node. Nothing speaks CRI or the docker API on them
// (the emulated crictl and docker talk to the agent's control socket): they are there to be found, as on a
// real node, so that detection by socket alone takes a docker node for containerd as it would there.
// On a lab host the namespace links /run/containerd and /run/docker.sock to these (src/lab/hosts.ts).
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, relative } from 'node:path';
import type { AgentState } from './state.js';

export const RUNTIME_SOCKETS = { containerd: '/run/containerd/containerd.sock', docker: '/run/docker.sock' } as const;

/** Listens on the node's runtime sockets; the returned function closes them and removes the files. */
export function openRuntimeSockets(st: AgentState): () => void {
  const paths = [RUNTIME_SOCKETS.containerd, ...(st.node.runtime === 'docker' ? [RUNTIME_SOCKETS.docker] : [])].map((p) => st.r(p));
  const servers: Server[] = [];
  // UNIX socket paths are limited to ~107 bytes: listen relative to the run directory (as the control socket)
  const cwd = process.cwd();
  process.chdir(st.runDir);
  try {
    for (const p of paths) {
      mkdirSync(dirname(p), { recursive: true });
      rmSync(p, { force: true });
      const srv = createServer((sock) => sock.destroy());
      srv.on('error', () => undefined); // a socket that cannot be made only weakens detection, never the node
      srv.listen(relative(st.runDir, p));
      servers.push(srv);
    }
  } finally {
    process.chdir(cwd);
  }
  return () => {
    for (const s of servers) s.close();
    for (const p of paths) rmSync(p, { force: true });
  };
}
