// External etcd (kubeadm's etcd.external) for a simulated node: the real etcd, run beside the node
// but not by its kubelet, with its own CA and certificates under /etc/etcd/pki (not kubeadm's to
// renew). Started and stopped with the node by whoever runs it (src/lab/sim-host.ts).
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NODE, rooted } from './paths.js';
import type { NodeConfig } from './node.js';
import { spawnEtcd, stopEtcd } from './etcd.js';

/** Where the external etcd's CA, serving certificate and key live (node path). */
export const EXTERNAL_ETCD_PKI = '/etc/etcd/pki';

/** Starts the node's external etcd (client mTLS with its own CA); undefined for a node with stacked etcd. */
export function startExternalEtcd(root: string, node: NodeConfig): ChildProcess | undefined {
  const ext = node.externalEtcd;
  if (!ext) return undefined;
  const r = (p: string) => rooted(root, p);
  const url = new URL(ext.endpoint);
  const peer = `http://${url.hostname}:${ext.peerPort}`;
  const data = r('/var/lib/etcd-external');
  mkdirSync(data, { recursive: true });
  mkdirSync(r(NODE.logDir), { recursive: true });
  const pki = (f: string) => r(`${EXTERNAL_ETCD_PKI}/${f}`);
  return spawnEtcd(
    [
      '--name=external',
      `--data-dir=${data}`,
      `--listen-client-urls=${ext.endpoint}`,
      `--advertise-client-urls=${ext.endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=external=${peer}`,
      `--cert-file=${pki('server.crt')}`,
      `--key-file=${pki('server.key')}`,
      `--trusted-ca-file=${pki('ca.crt')}`,
      '--client-cert-auth=true',
    ],
    join(r(NODE.logDir), 'external-etcd.log'),
  );
}

export { stopEtcd as stopExternalEtcd };
