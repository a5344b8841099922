// How a kubelet of a given version tells the API server it is alive (read in the kubelet's source:
// pkg/kubelet/kubelet_node_status.go, pkg/kubelet/nodelease/controller.go, later
// k8s.io/component-helpers/apimachinery/lease; pkg/kubelet/apis/config/v1beta1/defaults.go):
//   - it posts its node status as soon as it starts (its lastStatusReportTime starts at zero), with
//     each condition's lastHeartbeatTime from its own clock;
//   - without a node Lease (NodeLease off: the default before 1.14; alpha gate from 1.12) it posts its
//     status every nodeStatusUpdateFrequency (10 s), changed or not;
//   - with a node Lease (NodeLease beta and on by default from 1.14, GA in 1.17) it renews the Lease
//     kube-node-lease/<node> (spec.renewTime = its clock, a MicroTime) at start and then every renew
//     interval: min(10 s, nodeStatusUpdateFrequency) before 1.16 (kubernetes/kubernetes#80173), 0.25 x
//     nodeLeaseDurationSeconds (40 s: every 10 s) from 1.16 (#80429); and it posts its status only on a
//     change or every nodeStatusReportFrequency: 1 min (1.13 - 1.16), 5 min from 1.17 (#84007);
//   - its lease client is coordination.k8s.io/v1beta1 before 1.16, v1 from 1.16 (#79473).
import { atLeast } from './node.js';
import type { NodeConfig } from './node.js';

/** The kubelet renews a node Lease (NodeLease on: its default from 1.14, or the node's explicit gate from 1.12). */
export function usesNodeLease(n: Pick<NodeConfig, 'version' | 'nodeLease'>): boolean {
  if (!atLeast(n.version, '1.12.0')) return false;
  return n.nodeLease ?? atLeast(n.version, '1.14.0');
}

/** nodeLeaseDurationSeconds (40 unless the node sets it) */
export function leaseDurationSeconds(n: Pick<NodeConfig, 'nodeLeaseDurationSeconds'>): number {
  return n.nodeLeaseDurationSeconds ?? 40;
}

/** nodeStatusUpdateFrequency, ms */
export function statusUpdateMs(n: Pick<NodeConfig, 'nodeStatusUpdateMs'>): number {
  return n.nodeStatusUpdateMs ?? 10_000;
}

/** How often the Lease is renewed, ms. */
export function leaseRenewMs(n: Pick<NodeConfig, 'version' | 'nodeLeaseDurationSeconds' | 'nodeStatusUpdateMs'>): number {
  if (!atLeast(n.version, '1.16.0')) return Math.min(10_000, statusUpdateMs(n));
  return leaseDurationSeconds(n) * 1000 * 0.25;
}

/** With a Lease, an unchanged status is posted again after this long, ms (nodeStatusReportFrequency). */
export function statusReportMs(n: Pick<NodeConfig, 'version' | 'nodeStatusReportMs'>): number {
  return n.nodeStatusReportMs ?? (atLeast(n.version, '1.17.0') ? 300_000 : 60_000);
}

/** The coordination.k8s.io version the kubelet's lease client speaks. */
export function leaseClientVersion(n: Pick<NodeConfig, 'version'>): string {
  return atLeast(n.version, '1.16.0') ? 'v1' : 'v1beta1';
}
