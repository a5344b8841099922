// The agent's status (<root>/run/sim/status.json): what nodeStatus() and the tests read.
import { renameSync, writeFileSync } from 'node:fs';
import type { AgentState, AgentStatus } from './state.js';
import { reportStatus } from '../kubelet-report.js';

export function statusSnapshot(st: AgentState): AgentStatus {
  const api = st.pods.get('kube-apiserver');
  const etcd = st.pods.get('etcd');
  return {
    pid: process.pid,
    updatedAt: new Date().toISOString(),
    kubelet: { state: st.kubelet.state, since: new Date(st.kubelet.since).toISOString(), everActive: st.kubelet.everActive, mainPid: st.kubelet.mainPid, restarts: st.kubelet.restarts, lastError: st.kubelet.lastError },
    pods: [...st.pods.values()].map((p) => ({
      name: p.name, component: p.component, manifest: p.manifest, uid: p.uid, sandboxId: p.sandboxId, sandboxAttempt: p.sandboxAttempt,
      sandboxState: p.sandboxState, sandboxCreatedAt: p.sandboxCreatedAt, container: p.container, history: p.history.slice(-5), restartCount: p.restartCount,
    })),
    apiserver: { listening: api?.container?.state === 'running' && !!api.api, address: st.node.advertiseAddress, port: st.node.apiPort, servingSerial: api?.api?.serving.serial },
    etcd: { listening: etcd?.container?.state === 'running', port: st.node.etcdPort, servingSerial: etcd?.etcdRt?.serving.serial },
    ...reportStatus(st),
  };
}

export function writeStatus(st: AgentState): void {
  const s = statusSnapshot(st);
  const key = JSON.stringify({ ...s, updatedAt: '' });
  if (key === st.lastStatus) return;
  st.lastStatus = key;
  writeFileSync(st.statusFile + '.tmp', JSON.stringify(s, null, 2));
  renameSync(st.statusFile + '.tmp', st.statusFile);
}
