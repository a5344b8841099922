/**
 * A small expiry table for the demo's narration: every certificate under pki/ and the client
 * certificate embedded in each kubeconfig, with days left (what `openssl x509 -noout -enddate`
 * would tell an operator one file at a time). The runbooks read the same facts with the `x509` step.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertRow {
  name: string;
  notAfter: Date;
  daysLeft: number;
  isCA: boolean;
}

const DAY_MS = 86_400_000;

function row(name: string, pem: string | Buffer, now: number): CertRow | undefined {
  try {
    const c = new X509Certificate(pem);
    const notAfter = new Date(c.validTo);
    return { name, notAfter, daysLeft: Math.floor((notAfter.getTime() - now) / DAY_MS), isCA: c.ca };
  } catch {
    return undefined; // not a certificate (a key, sa.pub): not in the table
  }
}

export function readCertRows(kubeDir: string, now = Date.now()): CertRow[] {
  const rows: CertRow[] = [];
  for (const sub of ['pki', 'pki/etcd']) {
    const dir = join(kubeDir, sub);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) {
      if (!f.endsWith('.crt')) continue;
      const r = row(`${sub.slice(4) ? 'etcd/' : ''}${f.slice(0, -4)}`, readFileSync(join(dir, f)), now);
      if (r) rows.push(r);
    }
  }
  for (const conf of ['admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf', 'kubelet.conf']) {
    const p = join(kubeDir, conf);
    if (!existsSync(p)) continue;
    const m = /client-certificate-data:\s*(\S+)/.exec(readFileSync(p, 'utf8'));
    if (!m) continue; // kubelet.conf on newer clusters points at the kubelet's own rotated file
    const r = row(conf, Buffer.from(m[1]!, 'base64'), now);
    if (r) rows.push(r);
  }
  return rows;
}

export function formatCertRows(rows: CertRow[]): string {
  const w = Math.max(...rows.map((r) => r.name.length), 4);
  const lines = [`${'NAME'.padEnd(w)}  ${'EXPIRES'.padEnd(20)}  STATE`];
  for (const r of rows) {
    const state = r.daysLeft < 0 ? `EXPIRED ${-r.daysLeft} days ago` : `${r.daysLeft} days left`;
    lines.push(`${r.name.padEnd(w)}  ${r.notAfter.toISOString().slice(0, 16).replace('T', ' ').padEnd(20)}  ${state}${r.isCA ? ' (CA)' : ''}`);
  }
  return lines.join('\n');
}
