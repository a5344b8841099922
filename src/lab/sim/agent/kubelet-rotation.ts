// The kubelet's client-certificate rotation (rotateCertificates: true, the kubeadm default), as
// client-go's certificate manager (util/certificate/certificate_manager.go) does it. When the kubelet
// starts, its certificate manager takes its store's pair (kubelet-files.ts startCertificateManager):
// - none valid: it takes the pair kubelet.conf embeds, writes it into the store and rotates at once;
// - a valid one: it sets a rotation deadline at notBefore + a jittered 70–90 % of the certificate's
//   lifetime (jitteryDuration), and rotates when that deadline passes, at start or while it runs.
// A rotation asks the API server for a new certificate (a CSR), which the controller-manager (kubeadm's
// csrapproving/csrsigning) signs with the cluster CA; so it waits until the API server serves and the
// controller-manager runs. It writes kubelet-client-<timestamp>.pem, points kubelet-client-current.pem at
// it (what `kubeadm init phase kubelet-finalize`, kubeadm >= 1.17, points kubelet.conf at) and sets the
// new certificate's deadline. The CSR's client authenticates with kubelet.conf's own credentials (the
// file it names, read at the request, or its embedded pair: kubelet server.go, buildClientCertificateManager):
// the API server refuses it when that certificate is expired or from another CA (401), and kubeadm's
// approver signs only a node's own renewal (CN system:node:<name>, O system:nodes; any other
// requester's CSR is never approved): the manager tries again later. A kubelet whose config says
// rotateCertificates: false has no certificate manager (kubeadm writes true, in every version here).
import { readFileSync } from 'node:fs';
import { NODE } from '../paths.js';
import { atLeast } from '../node.js';
import { YEAR, expiredAt, goTime, issue, parseCert, readPem, signedBy, type CertInfo } from '../pki.js';
import { kubeconfigClient, storeUpdate, type KubeletFiles, type ManagerCert } from './kubelet-files.js';
import { goDuration } from '../format.js';
import { kubeletLog, type AgentState } from './state.js';
import { clientCreds } from '../kubelet-report.js';

/** The running kubelet's certificate manager: when it rotates next. A new one at each kubelet start and after each rotation. */
interface RotationPlan {
  deadline: number;
}

const plans = new WeakMap<AgentState, RotationPlan>();
const inFlight = new WeakSet<AgentState>();
/** the last reason a CSR was refused (logged once while it stays the same) */
const refusals = new WeakMap<AgentState, string>();
/** how soon a refused rotation is tried again (the real manager backs off up to minutes) */
const RETRY_MS = 5_000;

/**
 * The CSR client's credential (kubelet server.go buildClientCertificateManager): kubelet.conf's own, as
 * the kubelet loaded it when it started: its embedded certificate, or the file it names (read at each
 * request, as the client's transport is made anew).
 */
const csrCredentials = new WeakMap<AgentState, { cert?: CertInfo; file?: string }>();

function csrCertificate(st: AgentState): CertInfo | undefined {
  const c = csrCredentials.get(st);
  if (!c?.file) return c?.cert;
  try {
    return parseCert(readFileSync(st.r(c.file)));
  } catch {
    return undefined;
  }
}

/** Why the control plane would not sign a CSR sent with `cert` (undefined: it signs it). */
function csrRefused(st: AgentState, cert: CertInfo | undefined, ca: CertInfo): string | undefined {
  if (!cert || expiredAt(cert) || !signedBy(cert, ca)) return 'Unauthorized';
  if (cert.cn !== `system:node:${st.node.nodeName}` || !cert.orgs.includes('system:nodes')) return 'certificate request was not signed: timed out waiting for the condition';
  return undefined;
}

/** The certificate manager's own log lines: klog.V(2) at each call before 1.22, then through its logf, which names the signer. */
function managerLog(st: AgentState, line118: number, msg: string): void {
  const v = st.node.version;
  if (!atLeast(v, '1.22.0')) return kubeletLog(st, 'I', `certificate_manager.go:${line118}`, msg);
  kubeletLog(st, 'I', `certificate_manager.go:${atLeast(v, '1.28.0') ? 356 : 270}`, `kubernetes.io/kube-apiserver-client-kubelet: ${msg}`);
}

/** nextRotationDeadline: notBefore + jitteryDuration(lifetime), i.e. a uniformly drawn 70–90 % of the lifetime. */
function rotationDeadline(st: AgentState, cert: CertInfo): number {
  const nb = cert.notBefore.getTime();
  const deadline = nb + (cert.notAfter.getTime() - nb) * (0.7 + 0.2 * Math.random());
  managerLog(st, 553, `Certificate expiration is ${goTime(cert.notAfter)}, rotation deadline is ${goTime(new Date(deadline))}`);
  const wait = deadline - Date.now();
  if (wait > 0) managerLog(st, 288, `Waiting ${goDuration(wait)} for next certificate rotation`);
  return deadline;
}

/**
 * At kubelet start, with the files it read: when its certificate manager, holding `held`
 * (kubelet-files.ts), will rotate (at once with a bootstrap pair or none).
 */
export function planClientRotation(st: AgentState, held: ManagerCert | undefined, files: KubeletFiles): void {
  plans.delete(st);
  if (!files.rotates) return;
  let credential: { cert?: CertInfo; file?: string } = {};
  try {
    if (files.kc) credential = kubeconfigClient(files.kc);
  } catch { /* no certificate in it: the CSR goes without one */ }
  csrCredentials.set(st, credential);
  if (held && !held.bootstrapped) {
    plans.set(st, { deadline: rotationDeadline(st, held.info) });
    return;
  }
  plans.set(st, { deadline: Date.now() });
}

/** While the kubelet runs: past the deadline, once the API server serves and the controller-manager runs, the new certificate. */
export function rotateClientCert(st: AgentState): void {
  const plan = plans.get(st);
  const now = Date.now();
  if (!plan || now < plan.deadline || inFlight.has(st) || st.kubelet.state !== 'active') return;
  const api = st.pods.get('kube-apiserver');
  const cm = st.pods.get('kube-controller-manager');
  if (!api?.api || cm?.container?.state !== 'running') return;
  const pki = st.r(NODE.pkiDir);
  const refused = csrRefused(st, csrCertificate(st), parseCert(readPem(pki, 'ca').cert));
  if (refused) {
    if (refusals.get(st) !== refused) kubeletLog(st, 'E', 'certificate_manager.go:562', `Failed while requesting a signed certificate from the control plane: ${refused}`);
    refusals.set(st, refused);
    plan.deadline = now + RETRY_MS;
    return;
  }
  refusals.delete(st);
  inFlight.add(st);
  issue({ cn: `system:node:${st.node.nodeName}`, orgs: ['system:nodes'], usage: 'client', notBefore: new Date(now - 60_000), notAfter: new Date(now + YEAR) }, readPem(pki, 'ca'))
    .then((pem) => {
      // the kubelet restarted or stopped meanwhile: its request died with it (a new start plans anew)
      if (plans.get(st) !== plan || st.kubelet.state !== 'active') return;
      const file = storeUpdate(st, pem.cert, pem.key);
      kubeletLog(st, 'I', 'certificate_manager.go:713', `Rotating certificates: wrote ${file}`);
      plans.set(st, { deadline: rotationDeadline(st, parseCert(pem.cert)) });
      // the certificate manager hands the new certificate to the kubelet's API client at once
      try {
        st.kubelet.creds = clientCreds(st, pem);
      } catch { /* kubelet.conf gone meanwhile: the client keeps what it had */ }
    })
    .catch((e: unknown) => kubeletLog(st, 'E', 'certificate_manager.go:562', `Failed while requesting a signed certificate from the control plane: ${(e as Error).message}`))
    .finally(() => inFlight.delete(st));
}
