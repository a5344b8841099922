// The kubelet as systemd's unit (start attempts, restarts, stop) and its sync loop (tick): the static
// pods, its client-certificate rotation, and its reports to the API server (../kubelet-report.ts, as a
// worker's kubelet makes them: node status and Lease, with kubelet.conf's client certificate).
import { loadNode } from '../node.js';
import { expiredAt, goTime } from '../pki.js';
import { journal, kubeletLog, nextPid, setUnit, unitExited, type AgentState } from './state.js';
import { kubeletClientCert, readKubeletConfig, startCertificateManager, type ManagerCert } from './kubelet-files.js';
import { scanManifests, startContainer } from './static-pods.js';
import { writeStatus } from './status.js';
import { startBlocked } from './runtime.js';
import { planClientRotation, rotateClientCert } from './kubelet-rotation.js';
import { clientCreds, reportTick, startReporting } from '../kubelet-report.js';

export function kubeletStartAttempt(st: AgentState): void {
  st.node = loadNode(st.root);
  st.kubelet.mainPid = nextPid(st);
  journal(st, 'systemd[1]', 'Started kubelet: The Kubernetes Node Agent.');
  readKubeletConfig(st);
  const { cert, error } = kubeletClientCert(st);
  let fail: string | undefined;
  if (cert && expiredAt(cert)) {
    kubeletLog(st, 'E', 'bootstrap.go:265', `part of the existing bootstrap client certificate is expired: ${goTime(cert.notAfter)}`);
    fail = 'failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory';
  } else if (error === 'missing') {
    fail = 'failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory';
  } else if (error) {
    kubeletLog(st, 'E', 'bootstrap.go:265', `unable to read existing bootstrap client config from /etc/kubernetes/kubelet.conf: ${error}`);
    fail = 'failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory';
  }
  if (fail) {
    kubeletLog(st, 'F', 'server.go:274', fail);
    st.kubelet.lastError = fail;
    unitExited(st, 'code=exited, status=255/EXCEPTION', 'exit-code');
    return;
  }
  // the certificate manager is made before the kubelet runs: a store it cannot read stops it
  let held: ManagerCert | undefined;
  try {
    held = startCertificateManager(st);
  } catch (e) {
    fail = `failed to run Kubelet: failed to initialize client certificate manager: ${(e as Error).message}`;
    kubeletLog(st, 'F', 'server.go:274', fail);
    st.kubelet.lastError = fail;
    unitExited(st, 'code=exited, status=255/EXCEPTION', 'exit-code'); // klog's F exits 255, as the bootstrap failure above
    return;
  }
  st.kubelet.lastError = undefined;
  kubeletLog(st, 'I', 'server.go:417', `Kubelet version kubeletVersion="${st.node.version}"`);
  kubeletLog(st, 'I', 'kubelet.go:312', `Adding static pod path path="/etc/kubernetes/manifests"`);
  setUnit(st, 'active');
  st.kubelet.creds = undefined;
  // without a certificate its client reports nothing the API server accepts; it runs its static pods all the same
  if (held) startReporting(st, clientCreds(st, held));
  planClientRotation(st, held);
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
