// The kubelet as systemd's unit (start attempts, restarts, stop) and its sync loop (tick): the static
// pods, its client-certificate rotation, and its reports to the API server (../kubelet-report.ts, as a
// worker's kubelet makes them: node status and Lease, with kubelet.conf's client certificate).
import { loadNode } from '../node.js';
import { journal, kubeletLog, nextPid, setUnit, type AgentState } from './state.js';
import { startKubelet } from './kubelet-start.js';
import { scanManifests, startContainer } from './static-pods.js';
import { writeStatus } from './status.js';
import { startBlocked } from './runtime.js';
import { planClientRotation, rotateClientCert } from './kubelet-rotation.js';
import { clientCreds, reportTick, startReporting } from '../kubelet-report.js';

export function kubeletStartAttempt(st: AgentState): void {
  st.node = loadNode(st.root);
  st.kubelet.mainPid = nextPid(st);
  journal(st, 'systemd[1]', 'Started kubelet: The Kubernetes Node Agent.');
  const started = startKubelet(st);
  if (!started) return;
  const { files, held } = started;
  st.kubelet.fileCheckMs = files.fileCheckMs;
  kubeletLog(st, 'I', 'kubelet.go:312', `Adding static pod path path="/etc/kubernetes/manifests"`);
  setUnit(st, 'active');
  st.kubelet.creds = undefined;
  // without a certificate its client reports nothing the API server accepts; it runs its static pods all the same
  if (held) startReporting(st, clientCreds(st, held, files.kc));
  planClientRotation(st, held, files);
  st.kubelet.everActive = true;
  st.kubelet.nextScan = 0; // the kubelet reads the static pod path as soon as it starts
}

// ---------------------------------------------------------------- the kubelet loop

export function tick(st: AgentState): void {
  const now = Date.now();
  if (st.kubelet.state === 'activating' && now >= st.kubelet.nextRetry) {
    st.kubelet.restarts += 1;
    journal(st, 'systemd[1]', `kubelet.service: Scheduled restart job, restart counter is at ${st.kubelet.restarts}.`);
    journal(st, 'systemd[1]', 'Stopped kubelet: The Kubernetes Node Agent.');
    kubeletStartAttempt(st);
  }
  if (st.kubelet.state === 'active') {
    rotateClientCert(st);
    if (now >= st.kubelet.nextScan) {
      scanManifests(st);
      st.kubelet.nextScan = now + st.kubelet.fileCheckMs;
    }
    reportTick(st, now, () => writeStatus(st));
    for (const pod of st.pods.values()) {
      if (pod.sandboxState !== 'ready' || pod.needSandbox) {
        if (pod.restartAt === undefined) pod.restartAt = now + st.node.containerRestartMs;
      }
      const c = pod.container;
      const needStart = !c || c.state === 'exited' || pod.sandboxState !== 'ready';
      if (needStart && !startBlocked(st, pod)) {
        if (pod.restartAt === undefined) pod.restartAt = now + st.node.containerRestartMs;
        if (now >= pod.restartAt) startContainer(st, pod);
      }
    }
  }
  writeStatus(st);
}
