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
import { fail, ok, type Answer, type Reply } from './reply.js';

function dispatch(st: AgentState, cmd: string, args: string[]): Answer {
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
export function serveRequests(runDir: string, sockPath: string, handle: (cmd: string, args: string[]) => Answer): NetServer {
  rmSync(sockPath, { force: true });
  const srv = createNetServer((sock: Socket) => {
    let buf = '';
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const agentError = (e: unknown): Reply => fail(`agent error: ${(e as Error).message}\n`);
      let reply: Answer;
      try {
        const req = JSON.parse(buf.slice(0, nl)) as { cmd: string; args: string[] };
        reply = handle(req.cmd, req.args);
      } catch (e) {
        reply = agentError(e);
      }
      // a reply may wait (docker stop answers once the container has exited)
      void Promise.resolve(reply).catch(agentError).then((r) => sock.end(JSON.stringify(r) + '\n'));
    });
  });
  // UNIX socket paths are limited to ~107 bytes: listen relative to the run directory.
  const cwd = process.cwd();
  process.chdir(runDir);
  srv.listen(basename(sockPath));
  process.chdir(cwd);
  return srv;
}
