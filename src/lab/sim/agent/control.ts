// The agent's control socket (<root>/run/sim/agent.sock): one JSON request a line from the emulated
// systemctl, crictl and docker (src/lab/sim/cli.ts), one JSON reply.
import { rmSync } from 'node:fs';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { basename } from 'node:path';
import type { AgentState } from './state.js';
import { statusSnapshot } from './status.js';
import { systemctl } from './systemctl.js';
import { crictl } from './crictl.js';
import { docker } from './docker.js';
import { fail, ok, type Reply } from './reply.js';

function dispatch(st: AgentState, cmd: string, args: string[]): Reply {
  switch (cmd) {
    case 'systemctl':
      return systemctl(st, args);
    case 'crictl':
      return st.node.runtime === 'containerd' ? crictl(st, args) : fail('crictl: runtime is docker\n');
    case 'docker':
      return st.node.runtime === 'docker' ? docker(st, args) : fail('Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n');
    case 'status':
      return ok(JSON.stringify(statusSnapshot(st)));
    default:
      return fail(`unknown command ${cmd}\n`);
  }
}

export function serveControl(st: AgentState): NetServer {
  return serveRequests(st.runDir, st.sockPath, (cmd, args) => dispatch(st, cmd, args));
}

/**
 * The control protocol's server, for every kind of simulated node (this agent, src/lab/sim/worker-agent.ts):
 * one JSON request `{cmd, args}` a line, one JSON reply, then the connection ends.
 */
export function serveRequests(runDir: string, sockPath: string, handle: (cmd: string, args: string[]) => Reply): NetServer {
  rmSync(sockPath, { force: true });
  const srv = createNetServer((sock: Socket) => {
    let buf = '';
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let reply: Reply;
      try {
        const req = JSON.parse(buf.slice(0, nl)) as { cmd: string; args: string[] };
        reply = handle(req.cmd, req.args);
      } catch (e) {
        reply = fail(`agent error: ${(e as Error).message}\n`);
      }
      sock.end(JSON.stringify(reply) + '\n');
    });
  });
  // UNIX socket paths are limited to ~107 bytes: listen relative to the run directory.
  const cwd = process.cwd();
  process.chdir(runDir);
  srv.listen(basename(sockPath));
  process.chdir(cwd);
  return srv;
}
