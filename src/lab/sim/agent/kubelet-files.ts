// The kubelet's own files, as the kubelet reads them: its config (how often it scans the static pod
// path) and its client certificate (kubelet.conf).
import { existsSync, readFileSync } from 'node:fs';
import { load as yamlLoad } from 'js-yaml';
import { NODE } from '../paths.js';
import { parseCert, parseKubeconfig, type CertInfo } from '../pki.js';
import type { AgentState, NodeAgentState } from './state.js';

function durationMs(s: string | undefined, dflt: number): number {
  if (!s) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s.trim());
  if (!m) return dflt;
  const v = Number(m[1]);
  return m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : m[2] === 'm' ? v * 60000 : v * 3600000;
}

export function readKubeletConfig(st: AgentState): void {
  try {
    const cfg = yamlLoad(readFileSync(st.r(NODE.kubeletConfig), 'utf8')) as Record<string, string>;
    st.kubelet.fileCheckMs = durationMs(cfg.fileCheckFrequency, 20_000);
  } catch {
    st.kubelet.fileCheckMs = 20_000;
  }
}

/** The kubelet's client certificate, as the kubelet would load it from kubelet.conf. */
export function kubeletClientCert(st: NodeAgentState): { cert?: CertInfo; error?: string } {
  const confPath = st.r(NODE.kubeDir + '/kubelet.conf');
  if (!existsSync(confPath)) return { error: 'missing' };
  try {
    const kc = parseKubeconfig(readFileSync(confPath, 'utf8'));
    if (kc.clientCert) return { cert: parseCert(kc.clientCert) };
    if (kc.clientCertFile) {
      const f = st.r(kc.clientCertFile);
      if (!existsSync(f)) return { error: `open ${kc.clientCertFile}: no such file or directory` };
      return { cert: parseCert(readFileSync(f)) };
    }
    return { error: 'no client certificate' };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
