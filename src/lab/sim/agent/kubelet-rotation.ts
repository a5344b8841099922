// The kubelet's client-certificate rotation (rotateCertificates: true, the kubeadm default): a kubelet
// that starts with no usable certificate in its store (/var/lib/kubelet/pki/kubelet-client-current.pem
// missing or expired; kubelet.conf then embeds the one it starts with) asks the API server for a new
// one as soon as the control plane answers; the controller-manager signs it with the cluster CA. It
// writes kubelet-client-<timestamp>.pem and points kubelet-client-current.pem at it, which is what
// `kubeadm init phase kubelet-finalize` (kubeadm >= 1.17) then points kubelet.conf at. Decided when the
// kubelet starts (its certificate manager reads the store then), done once. Kubelets older than 1.17
// are left without it, as the simulator's older scenarios were made.
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE } from '../paths.js';
import { atLeast } from '../node.js';
import { YEAR, expiredAt, issue, parseCert, readPem } from '../pki.js';
import { kubeletLog, type AgentState } from './state.js';

const pending = new WeakSet<AgentState>();
const inFlight = new WeakSet<AgentState>();

function storeUsable(st: AgentState): boolean {
  const cur = st.r(NODE.kubeletPki + '/kubelet-client-current.pem');
  if (!existsSync(cur)) return false;
  try {
    return !expiredAt(parseCert(readFileSync(cur)));
  } catch {
    return false;
  }
}

/** At kubelet start: whether its certificate manager will rotate (an empty or expired store). */
export function planClientRotation(st: AgentState): void {
  pending.delete(st);
  if (!atLeast(st.node.version, '1.17.0') || storeUsable(st)) return;
  pending.add(st);
  kubeletLog(st, 'I', 'certificate_manager.go:356', 'Certificate rotation is enabled: no valid client certificate in /var/lib/kubelet/pki, requesting one');
}

/** While the kubelet runs: once the API server serves and the controller-manager runs, the new certificate. */
export function rotateClientCert(st: AgentState): void {
  if (!pending.has(st) || inFlight.has(st) || st.kubelet.state !== 'active') return;
  const api = st.pods.get('kube-apiserver');
  const cm = st.pods.get('kube-controller-manager');
  if (!api?.api || cm?.container?.state !== 'running') return;
  inFlight.add(st);
  const now = Date.now();
  const pki = st.r(NODE.pkiDir);
  issue({ cn: `system:node:${st.node.nodeName}`, orgs: ['system:nodes'], usage: 'client', notBefore: new Date(now - 60_000), notAfter: new Date(now + YEAR) }, readPem(pki, 'ca'))
    .then((pem) => {
      if (!pending.has(st)) return; // the kubelet restarted meanwhile: its new start decides again
      const dir = st.r(NODE.kubeletPki);
      const stamp = new Date(now).toISOString().replace(/[-:T]/g, '').slice(0, 14).replace(/(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})/, '$1-$2-$3-$4-$5-$6');
      writeFileSync(join(dir, `kubelet-client-${stamp}.pem`), pem.cert + pem.key, { mode: 0o600 });
      rmSync(join(dir, 'kubelet-client-current.pem'), { force: true });
      symlinkSync(`kubelet-client-${stamp}.pem`, join(dir, 'kubelet-client-current.pem'));
      pending.delete(st);
      kubeletLog(st, 'I', 'certificate_manager.go:713', `Rotating certificates: wrote /var/lib/kubelet/pki/kubelet-client-${stamp}.pem`);
    })
    .catch((e: unknown) => kubeletLog(st, 'E', 'certificate_manager.go:562', `Failed while requesting a signed certificate from the control plane: ${(e as Error).message}`))
    .finally(() => inFlight.delete(st));
}
