// What every simulated kubelet does as it starts, on a control-plane node and on a worker alike
// (cmd/kubelet/app/server.go): it reads kubelet.conf and its config once (kubelet-files.ts), checks
// kubelet.conf's client certificate (bootstrap.go), makes its certificate manager, and when any of that
// fails it exits as its version exits.
import { atLeast } from '../node.js';
import { NODE } from '../paths.js';
import { expiredAt, goTime } from '../pki.js';
import { kubeletClientCert, readKubeletFiles, startCertificateManager, type KubeletFiles, type ManagerCert } from './kubelet-files.js';
import { kubeletLog, unitExited, type NodeAgentState } from './state.js';

const NO_BOOTSTRAP = 'failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory';

/**
 * The kubelet's process ends on `err` (Run's error) as its version ends it:
 * - before 1.21, klog.Fatal: `F ... server.go:274] failed to run Kubelet: ...`, exit status 255;
 * - 1.21 to 1.23, structured logging and os.Exit(1): `E ... server.go] "Failed to run kubelet" err="..."`;
 * - from 1.24, the command returns the error to component-base's cli.Run: `E ... run.go:74] "command failed" err="..."`, exit 1.
 * Seen in real journals: 1.17 (server.go:273, 255), 1.27 (run.go:74, 1). The 1.21 and 1.24 boundaries
 * are where the structured-logging migration and cli.Run (component-base 1.23) put them, unverified.
 */
function exitOn(st: NodeAgentState, err: string): void {
  const v = st.node.version;
  if (!atLeast(v, '1.21.0')) {
    kubeletLog(st, 'F', 'server.go:274', err);
    unitExited(st, 'code=exited, status=255/EXCEPTION', 'exit-code');
  } else {
    // klog quotes a structured value as Go's %q does: JSON's quoting for these ASCII messages
    if (atLeast(v, '1.24.0')) kubeletLog(st, 'E', 'run.go:74', `"command failed" err=${JSON.stringify(err)}`);
    else kubeletLog(st, 'E', 'server.go:294', `"Failed to run kubelet" err=${JSON.stringify(err)}`);
    unitExited(st, 'code=exited, status=1/FAILURE', 'exit-code');
  }
  st.kubelet.lastError = err;
}

/** bootstrap.go: kubelet.conf's own client certificate must load and be unexpired (there is no bootstrap-kubelet.conf to fall back to). */
function bootstrapRefused(st: NodeAgentState, files: KubeletFiles): boolean {
  const { cert, error } = kubeletClientCert(st, files);
  if (cert && expiredAt(cert)) {
    if (atLeast(st.node.version, '1.20.0')) {
      kubeletLog(st, 'E', 'bootstrap.go:266', `"Part of the existing bootstrap client certificate in kubeconfig is expired" path="${NODE.kubeletConf}" expirationDate="${goTime(cert.notAfter)}"`);
    } else {
      kubeletLog(st, 'E', 'bootstrap.go:265', `part of the existing bootstrap client certificate is expired: ${goTime(cert.notAfter)}`);
    }
    return true;
  }
  if (error && error !== 'missing') kubeletLog(st, 'E', 'bootstrap.go:265', `unable to read existing bootstrap client config from ${NODE.kubeletConf}: ${error}`);
  return error !== undefined;
}

/**
 * A kubelet start up to its running process: what it read and the pair its certificate manager holds
 * (none: its API client presents no certificate), or undefined when it exited (logged, the unit
 * activating until systemd restarts it).
 */
export function startKubelet(st: NodeAgentState): { files: KubeletFiles; held: ManagerCert | undefined } | undefined {
  const files = readKubeletFiles(st);
  if (bootstrapRefused(st, files)) {
    exitOn(st, NO_BOOTSTRAP);
    return undefined;
  }
  let held: ManagerCert | undefined;
  try {
    held = startCertificateManager(st, files);
  } catch (e) {
    // made before the kubelet runs: a store it cannot read stops it
    exitOn(st, `failed to run Kubelet: failed to initialize client certificate manager: ${(e as Error).message}`);
    return undefined;
  }
  st.kubelet.lastError = undefined;
  kubeletLog(st, 'I', 'server.go:417', `Kubelet version kubeletVersion="${st.node.version}"`);
  return { files, held };
}
