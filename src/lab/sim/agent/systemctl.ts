// systemctl for the kubelet unit (and the container runtime's, always active).
import { readFileSync } from 'node:fs';
import { systemdAgo, systemdTime } from '../format.js';
import { stopUnit, type AgentState } from './state.js';
import { kubeletStartAttempt } from './kubelet.js';
import { writeStatus } from './status.js';
import { fail, ok, type Reply } from './reply.js';

const KNOWN_UNITS: Record<string, string> = {
  kubelet: 'kubelet: The Kubernetes Node Agent',
};

function unitName(a: string): string {
  return a.replace(/\.service$/, '');
}

export function systemctl(st: AgentState, args: string[]): Reply {
  const positional = args.filter((a) => !a.startsWith('-'));
  const verb = positional[0];
  const units = positional.slice(1).map(unitName);
  const runtimeUnit = st.node.runtime === 'docker' ? 'docker' : 'containerd';
  const known = (u: string) => u === 'kubelet' || u === runtimeUnit;
  switch (verb) {
    case 'daemon-reload':
      return ok();
    case 'start':
    case 'stop':
    case 'restart':
    case 'try-restart':
    case 'reload-or-restart': {
      if (units.length === 0) return fail(`Too few arguments.\n`);
      for (const u of units) {
        if (!known(u)) return fail(`Failed to ${verb === 'start' ? 'start' : verb === 'stop' ? 'stop' : 'restart'} ${u}.service: Unit ${u}.service not found.\n`, 5);
      }
      for (const u of units) {
        if (u !== 'kubelet') continue;
        if (verb === 'stop') stopUnit(st);
        else if (verb === 'start') {
          if (st.kubelet.state === 'inactive' || st.kubelet.state === 'failed') kubeletStartAttempt(st);
        } else {
          if (verb === 'try-restart' && st.kubelet.state === 'inactive') continue;
          stopUnit(st);
          kubeletStartAttempt(st);
        }
      }
      writeStatus(st);
      return ok();
    }
    case 'is-active': {
      let code = 0;
      let out = '';
      for (const u of units) {
        const s = u === 'kubelet' ? st.kubelet.state : known(u) ? 'active' : 'inactive';
        if (s !== 'active') code = 3;
        out += (args.includes('--quiet') || args.includes('-q') ? '' : s + '\n');
      }
      return { code, stdout: out, stderr: '' };
    }
    case 'is-enabled': {
      const all = units.every(known);
      return { code: all ? 0 : 1, stdout: units.map((u) => (known(u) ? 'enabled' : '')).filter(Boolean).join('\n') + (all ? '\n' : ''), stderr: all ? '' : `Failed to get unit file state for ${units.find((u) => !known(u))}.service: No such file or directory\n` };
    }
    case 'is-failed': {
      const s = units[0] === 'kubelet' ? st.kubelet.state : 'active';
      return { code: s === 'failed' ? 0 : 1, stdout: s + '\n', stderr: '' };
    }
    case 'enable':
    case 'disable':
      return ok();
    case 'status': {
      const u = units[0] ?? 'kubelet';
      if (!known(u)) return fail(`Unit ${u}.service could not be found.\n`, 4);
      if (u !== 'kubelet') {
        return ok(`● ${u}.service - ${u}\n     Loaded: loaded (/lib/systemd/system/${u}.service; enabled; vendor preset: enabled)\n     Active: active (running) since ${systemdTime(new Date(st.node.createdAt))}; ${systemdAgo(Date.now() - new Date(st.node.createdAt).getTime())}\n`);
      }
      const since = new Date(st.kubelet.since);
      const head = [
        `${st.kubelet.state === 'active' ? '●' : st.kubelet.state === 'inactive' ? '○' : '●'} kubelet.service - ${KNOWN_UNITS.kubelet}`,
        '     Loaded: loaded (/lib/systemd/system/kubelet.service; enabled; vendor preset: enabled)',
        '    Drop-In: /usr/lib/systemd/system/kubelet.service.d',
        '             └─10-kubeadm.conf',
      ];
      let active: string;
      const execStart = '/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS';
      const lines: string[] = [];
      if (st.kubelet.state === 'active') {
        active = `     Active: active (running) since ${systemdTime(since)}; ${systemdAgo(Date.now() - st.kubelet.since)}`;
        lines.push('       Docs: https://kubernetes.io/docs/home/', `   Main PID: ${st.kubelet.mainPid} (kubelet)`, '      Tasks: 14 (limit: 4557)', '     Memory: 43.2M', '     CGroup: /system.slice/kubelet.service', `             └─${st.kubelet.mainPid} /usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml`);
      } else if (st.kubelet.state === 'activating') {
        active = `     Active: activating (auto-restart) (Result: exit-code) since ${systemdTime(since)}; ${systemdAgo(Date.now() - st.kubelet.since)}`;
        const exit = st.kubelet.lastExit ?? 'code=exited, status=255/EXCEPTION';
        lines.push('       Docs: https://kubernetes.io/docs/home/', `    Process: ${st.kubelet.mainPid} ExecStart=${execStart} (${exit})`, `   Main PID: ${st.kubelet.mainPid} (${exit})`);
      } else {
        active = `     Active: inactive (dead)${st.kubelet.everActive ? ` since ${systemdTime(since)}; ${systemdAgo(Date.now() - st.kubelet.since)}` : ''}`;
        lines.push('       Docs: https://kubernetes.io/docs/home/');
      }
      const tail = readJournal(st).slice(-10);
      const out = [...head, active, ...lines, '', ...tail].join('\n') + '\n';
      return { code: st.kubelet.state === 'active' ? 0 : 3, stdout: out, stderr: '' };
    }
    default:
      return fail(`Unknown command verb ${verb ?? ''}.\n`);
  }
}

function readJournal(st: AgentState): string[] {
  try {
    return readFileSync(st.journalFile, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
