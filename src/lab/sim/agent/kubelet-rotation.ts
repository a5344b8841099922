// The kubelet's client-certificate rotation (rotateCertificates: true, the kubeadm default), as
// client-go's certificate manager (util/certificate/certificate_manager.go) does it. When the kubelet
// starts, its certificate manager reads its store (/var/lib/kubelet/pki/kubelet-client-current.pem):
// - missing or expired: it falls back to the certificate kubelet.conf embeds and rotates at once;
// - usable: it sets a rotation deadline at notBefore + a jittered 70–90 % of the certificate's lifetime
//   (jitteryDuration), and rotates when that deadline passes, at start or while it runs.
// A rotation asks the API server for a new certificate (a CSR), which the controller-manager (kubeadm's
// csrapproving/csrsigning) signs with the cluster CA; so it waits until the API server serves and the
// controller-manager runs. It writes kubelet-client-<timestamp>.pem, points kubelet-client-current.pem at
// it (what `kubeadm init phase kubelet-finalize`, kubeadm >= 1.17, points kubelet.conf at) and sets the
// new certificate's deadline. The CSR is sent with the certificate the manager holds (the store's, else
// kubelet.conf's, the bootstrap one): the API server refuses it when that one is expired or from another
// CA (401), and kubeadm's approver signs only a node's own renewal (CN system:node:<name>, O system:nodes;
// any other requester's CSR is never approved): the manager tries again later. Kubelets older than 1.17 are left without it, as the simulator's older
// scenarios were made.
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE } from '../paths.js';
import { atLeast } from '../node.js';
import { YEAR, expiredAt, goTime, issue, parseCert, readPem, signedBy, type CertInfo } from '../pki.js';
import { kubeletClientCert } from './kubelet-files.js';
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

/** Why the control plane would not sign a CSR sent with `cert` (undefined: it signs it). */
function csrRefused(st: AgentState, cert: CertInfo | undefined, ca: CertInfo): string | undefined {
  if (!cert || expiredAt(cert) || !signedBy(cert, ca)) return 'Unauthorized';
  if (cert.cn !== `system:node:${st.node.nodeName}` || !cert.orgs.includes('system:nodes')) return 'certificate request was not signed: timed out waiting for the condition';
  return undefined;
}

/** The store's current certificate, if the certificate manager keeps it (present, parsable, before its notAfter: getCurrentCertificateOrBootstrap). */
function storeCert(st: AgentState): CertInfo | undefined {
  const cur = st.r(NODE.kubeletPki + '/kubelet-client-current.pem');
  if (!existsSync(cur)) return undefined;
  try {
    const cert = parseCert(readFileSync(cur));
    return Date.now() < cert.notAfter.getTime() ? cert : undefined;
  } catch {
    return undefined;
  }
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

/** At kubelet start: when its certificate manager will rotate (at once with an empty or expired store). */
export function planClientRotation(st: AgentState): void {
  plans.delete(st);
  if (!atLeast(st.node.version, '1.17.0')) return;
  const cert = storeCert(st);
  if (cert) {
    plans.set(st, { deadline: rotationDeadline(st, cert) });
    return;
  }
  plans.set(st, { deadline: Date.now() });
  kubeletLog(st, 'I', 'certificate_manager.go:356', 'Certificate rotation is enabled: no valid client certificate in /var/lib/kubelet/pki, requesting one');
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
  const refused = csrRefused(st, storeCert(st) ?? kubeletClientCert(st).cert, parseCert(readPem(pki, 'ca').cert));
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
      const dir = st.r(NODE.kubeletPki);
      const stamp = new Date(now).toISOString().replace(/[-:T]/g, '').slice(0, 14).replace(/(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})/, '$1-$2-$3-$4-$5-$6');
      writeFileSync(join(dir, `kubelet-client-${stamp}.pem`), pem.cert + pem.key, { mode: 0o600 });
      rmSync(join(dir, 'kubelet-client-current.pem'), { force: true });
      symlinkSync(`kubelet-client-${stamp}.pem`, join(dir, 'kubelet-client-current.pem'));
      kubeletLog(st, 'I', 'certificate_manager.go:713', `Rotating certificates: wrote /var/lib/kubelet/pki/kubelet-client-${stamp}.pem`);
      plans.set(st, { deadline: rotationDeadline(st, parseCert(pem.cert)) });
      // the certificate manager hands the new certificate to the kubelet's API client at once
      try {
        st.kubelet.creds = clientCreds(st);
      } catch { /* kubelet.conf gone meanwhile: the client keeps what it had */ }
    })
    .catch((e: unknown) => kubeletLog(st, 'E', 'certificate_manager.go:562', `Failed while requesting a signed certificate from the control plane: ${(e as Error).message}`))
    .finally(() => inFlight.delete(st));
}
