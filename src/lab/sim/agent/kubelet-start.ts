// What every simulated kubelet does as it starts, on a control-plane node and on a worker alike
// (cmd/kubelet/app/server.go): it reads kubelet.conf and its config once (kubelet-files.ts), checks
// kubelet.conf's client certificate (bootstrap.go), makes its certificate manager, and when any of that
// fails it exits as its version exits.
import { atLeast, minor } from '../node.js';
import { NODE } from '../paths.js';
import { expiredAt, goTime } from '../pki.js';
import { kubeletClientCert, readKubeletFiles, startCertificateManager, type KubeletFiles, type ManagerCert } from './kubelet-files.js';
import { journal, kubeletLog, unitExited, type NodeAgentState } from './state.js';

const NO_BOOTSTRAP = 'failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory';

/** klog.Fatal's line in cmd/kubelet/app/server.go, as real journals show it (1.14 to 1.20; earlier ones as 1.14) */
const FATAL_LINE: Record<number, number> = { 16: 271, 17: 273, 18: 274, 19: 265, 20: 269 };
/** the structured "Failed to run kubelet" line in server.go, 1.21 to 1.23 */
const ERRORS_LINE: Record<number, number> = { 21: 292, 22: 294, 23: 302 };

/**
 * The kubelet's process ends on `err` (Run's error) as its version ends it, as real journals show it:
 * - up to 1.20, klog.Fatal: `F ... server.go:274] failed to run Kubelet: ...`, exit status 255;
 * - 1.21 to 1.23, structured logging and os.Exit(1): `E ... server.go:292] "Failed to run kubelet" err="..."`;
 * - 1.24, the command returns the error and exits 1: nothing logged before 1.24.4, cobra's plain
 *   `Error: ...` line from then on;
 * - from 1.25, component-base's cli.Run: `E ... run.go:74] "command failed" err="..."`, exit 1; from 1.31
 *   the same line at run.go:72 (component-base's cli/run.go at v0.25.0–v0.30.0 and v0.31.0–v0.34.0).
 */
function exitOn(st: NodeAgentState, err: string): void {
  const v = st.node.version;
  const m = minor(v);
  if (m <= 20) {
    kubeletLog(st, 'F', `server.go:${FATAL_LINE[m] ?? 265}`, err);
    unitExited(st, 'code=exited, status=255/EXCEPTION', 'exit-code');
  } else {
    // klog quotes a structured value as Go's %q does: JSON's quoting for these ASCII messages
    if (m <= 23) kubeletLog(st, 'E', `server.go:${ERRORS_LINE[m]}`, `"Failed to run kubelet" err=${JSON.stringify(err)}`);
    else if (m >= 25) kubeletLog(st, 'E', m >= 31 ? 'run.go:72' : 'run.go:74', `"command failed" err=${JSON.stringify(err)}`);
    else if (atLeast(v, '1.24.4')) journal(st, `kubelet[${st.kubelet.mainPid}]`, `Error: ${err}`);
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
