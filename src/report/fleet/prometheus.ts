/**
 * The fleet model in Prometheus text format, for node_exporter's textfile collector: expiry
 * timestamps rather than "days left", so alerts compare with time() and a stale file still says
 * the truth. Exposition is prom-client's (escaping, HELP/TYPE lines); the file is replaced
 * atomically so the collector never reads half of it.
 */
import { Gauge, Registry } from 'prom-client';
import { writeFileAtomic } from './write.js';
import type { FleetReport } from './model.js';

const CERT_LABELS = ['cluster', 'host', 'cert', 'kind', 'path'] as const;
const NODE_LABELS = ['cluster', 'host'] as const;

export async function prometheusText(r: FleetReport): Promise<string> {
  const registry = new Registry();
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Gauge<L>({ name, help, labelNames, registers: [registry] });
  const expiry = gauge('kubeadm_certificate_expiry_timestamp_seconds', 'NotAfter of a kubeadm certificate or kubeconfig client certificate, in seconds since the epoch.', CERT_LABELS);
  const issued = gauge('kubeadm_certificate_not_before_timestamp_seconds', 'NotBefore of a kubeadm certificate or kubeconfig client certificate, in seconds since the epoch.', CERT_LABELS);
  const isCa = gauge('kubeadm_certificate_is_ca', '1 when the certificate is a CA (kubeadm never renews those; they need a planned rotation).', CERT_LABELS);
  const lastCheck = gauge('runbook_cert_check_last_run_timestamp_seconds', "When runbook last read this node's certificates, in seconds since the epoch.", NODE_LABELS);
  const success = gauge('runbook_cert_check_success', "1 when the last check could read this node's certificates, 0 when it could not (unreachable, failed).", NODE_LABELS);
  const window = gauge('runbook_cert_check_renew_window_seconds', 'The renew window the check used (renew_within): certificates expiring sooner are due.', NODE_LABELS);
  for (const n of r.nodes) {
    const node = { cluster: n.cluster, host: n.host };
    success.set(node, n.checkedAt ? 1 : 0);
    if (!n.checkedAt) continue;
    lastCheck.set(node, Date.parse(n.checkedAt) / 1000);
    window.set(node, n.withinMs / 1000);
    for (const c of n.certs) {
      const labels = { ...node, cert: c.name, kind: c.kind, path: c.path };
      expiry.set(labels, Date.parse(c.notAfter) / 1000);
      issued.set(labels, Date.parse(c.notBefore) / 1000);
      isCa.set(labels, c.isCa ? 1 : 0);
    }
  }
  return registry.metrics();
}

export async function writePrometheus(file: string, r: FleetReport): Promise<void> {
  writeFileAtomic(file, await prometheusText(r), 0o644);
}
