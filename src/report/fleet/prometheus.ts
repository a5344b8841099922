/**
 * The fleet model in Prometheus text format, for node_exporter's textfile collector: expiry
 * timestamps rather than "days left", so alerts compare with time() and a stale file still says
 * the truth. Exposition is prom-client's (escaping, HELP/TYPE lines); the file is replaced
 * atomically so the collector never reads half of it.
 */
import { Gauge, Registry } from 'prom-client';
import { writeFileAtomic } from './write.js';
import type { FleetReport } from './model.js';

export async function prometheusText(r: FleetReport): Promise<string> {
  const registry = new Registry();
  const expiry = new Gauge({
    name: 'kubeadm_certificate_expiry_timestamp_seconds',
    help: 'NotAfter of a kubeadm certificate or kubeconfig client certificate, in seconds since the epoch.',
    labelNames: ['cluster', 'host', 'cert', 'kind', 'path'] as const,
    registers: [registry],
  });
  const issued = new Gauge({
    name: 'kubeadm_certificate_not_before_timestamp_seconds',
    help: 'NotBefore of a kubeadm certificate or kubeconfig client certificate, in seconds since the epoch.',
    labelNames: ['cluster', 'host', 'cert', 'kind', 'path'] as const,
    registers: [registry],
  });
  const isCa = new Gauge({
    name: 'kubeadm_certificate_is_ca',
    help: '1 when the certificate is a CA (kubeadm never renews those; they need a planned rotation).',
    labelNames: ['cluster', 'host', 'cert', 'kind', 'path'] as const,
    registers: [registry],
  });
  const lastCheck = new Gauge({
    name: 'runbook_cert_check_last_run_timestamp_seconds',
    help: 'When runbook last read this node\'s certificates, in seconds since the epoch.',
    labelNames: ['cluster', 'host'] as const,
    registers: [registry],
  });
  const success = new Gauge({
    name: 'runbook_cert_check_success',
    help: '1 when the last check could read this node\'s certificates, 0 when it could not (unreachable, failed).',
    labelNames: ['cluster', 'host'] as const,
    registers: [registry],
  });
  const window = new Gauge({
    name: 'runbook_cert_check_renew_window_seconds',
    help: 'The renew window the check used (renew_within): certificates expiring sooner are due.',
    labelNames: ['cluster', 'host'] as const,
    registers: [registry],
  });
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
