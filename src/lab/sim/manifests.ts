// Static pod manifests and kubelet files laid out like kubeadm's.
import { atLeast, firstServiceIP, type NodeConfig } from './node.js';

export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
export type Component = (typeof COMPONENTS)[number];

export function images(n: NodeConfig): Record<Component | 'pause', string> {
  const v = n.version;
  if (!atLeast(v, '1.12.0')) {
    return {
      'kube-apiserver': `k8s.gcr.io/kube-apiserver-amd64:${v}`,
      'kube-controller-manager': `k8s.gcr.io/kube-controller-manager-amd64:${v}`,
      'kube-scheduler': `k8s.gcr.io/kube-scheduler-amd64:${v}`,
      etcd: 'k8s.gcr.io/etcd-amd64:3.2.18',
      pause: 'k8s.gcr.io/pause:3.1',
    };
  }
  const reg = atLeast(v, '1.25.0') ? 'registry.k8s.io' : 'k8s.gcr.io';
  return {
    'kube-apiserver': `${reg}/kube-apiserver:${v}`,
    'kube-controller-manager': `${reg}/kube-controller-manager:${v}`,
    'kube-scheduler': `${reg}/kube-scheduler:${v}`,
    etcd: atLeast(v, '1.25.0') ? `${reg}/etcd:3.5.15-0` : `${reg}/etcd:3.4.3-0`,
    pause: atLeast(v, '1.25.0') ? `${reg}/pause:3.9` : `${reg}/pause:3.2`,
  };
}

function pod(name: Component, n: NodeConfig, command: string[], mounts: Array<[string, string, boolean]>, extraAnnotations: string[] = []): string {
  const img = images(n)[name];
  const lines = [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    ...(extraAnnotations.length ? ['  annotations:', ...extraAnnotations.map((a) => `    ${a}`)] : []),
    '  creationTimestamp: null',
    '  labels:',
    `    component: ${name}`,
    '    tier: control-plane',
    `  name: ${name}`,
    '  namespace: kube-system',
    'spec:',
    '  containers:',
    '  - command:',
    ...command.map((c) => `    - ${c}`),
    `    image: ${img}`,
    '    imagePullPolicy: IfNotPresent',
    `    name: ${name}`,
    '    resources: {}',
    '    volumeMounts:',
    ...mounts.flatMap(([vol, path, ro]) => [`    - mountPath: ${path}`, `      name: ${vol}`, ...(ro ? ['      readOnly: true'] : [])]),
    '  hostNetwork: true',
    '  priorityClassName: system-node-critical',
    '  volumes:',
    ...mounts.flatMap(([vol, path]) => ['  - hostPath:', `      path: ${path}`, `      type: ${path.endsWith('.conf') ? 'FileOrCreate' : 'DirectoryOrCreate'}`, `    name: ${vol}`]),
    'status: {}',
    '',
  ];
  return lines.join('\n');
}

/** The node's static pods (external etcd: no etcd pod). */
export function manifestsFor(n: NodeConfig): Partial<Record<Component, string>> {
  const adv = n.advertiseAddress;
  const etcdUrl = `https://127.0.0.1:${n.etcdPort}`;
  const pki = '/etc/kubernetes/pki';
  const apiserver = [
    'kube-apiserver',
    `--advertise-address=${adv}`,
    '--allow-privileged=true',
    '--authorization-mode=Node,RBAC',
    `--client-ca-file=${pki}/ca.crt`,
    '--enable-admission-plugins=NodeRestriction',
    '--enable-bootstrap-token-auth=true',
    `--etcd-cafile=${n.externalEtcd?.caFile ?? `${pki}/etcd/ca.crt`}`,
    `--etcd-certfile=${n.externalEtcd?.certFile ?? `${pki}/apiserver-etcd-client.crt`}`,
    `--etcd-keyfile=${n.externalEtcd?.keyFile ?? `${pki}/apiserver-etcd-client.key`}`,
    `--etcd-servers=${n.externalEtcd?.endpoint ?? etcdUrl}`,
    ...(atLeast(n.version, '1.12.0') ? [] : ['--insecure-port=0']),
    `--kubelet-client-certificate=${pki}/apiserver-kubelet-client.crt`,
    `--kubelet-client-key=${pki}/apiserver-kubelet-client.key`,
    '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
    `--proxy-client-cert-file=${pki}/front-proxy-client.crt`,
    `--proxy-client-key-file=${pki}/front-proxy-client.key`,
    '--requestheader-allowed-names=front-proxy-client',
    `--requestheader-client-ca-file=${pki}/front-proxy-ca.crt`,
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-username-headers=X-Remote-User',
    `--secure-port=${n.apiPort}`,
    ...(atLeast(n.version, '1.20.0') ? [`--service-account-issuer=https://kubernetes.default.svc.${n.dnsDomain}`] : []),
    `--service-account-key-file=${pki}/sa.pub`,
    ...(atLeast(n.version, '1.20.0') ? [`--service-account-signing-key-file=${pki}/sa.key`] : []),
    `--service-cluster-ip-range=${n.serviceSubnet}`,
    `--tls-cert-file=${pki}/apiserver.crt`,
    `--tls-private-key-file=${pki}/apiserver.key`,
  ];
  const etcd = [
    'etcd',
    `--advertise-client-urls=https://${adv}:${n.etcdPort}`,
    `--cert-file=${pki}/etcd/server.crt`,
    '--client-cert-auth=true',
    '--data-dir=/var/lib/etcd',
    ...(n.etcdTimings ? [`--election-timeout=${n.etcdTimings.electionMs}`, `--heartbeat-interval=${n.etcdTimings.heartbeatMs}`] : []),
    `--initial-advertise-peer-urls=https://${adv}:${n.etcdPeerPort}`,
    `--initial-cluster=${n.etcdInitialCluster}`,
    `--key-file=${pki}/etcd/server.key`,
    `--listen-client-urls=${etcdUrl},https://${adv}:${n.etcdPort}`,
    `--listen-peer-urls=https://${adv}:${n.etcdPeerPort}`,
    `--name=${n.nodeName}`,
    `--peer-cert-file=${pki}/etcd/peer.crt`,
    '--peer-client-cert-auth=true',
    `--peer-key-file=${pki}/etcd/peer.key`,
    `--peer-trusted-ca-file=${pki}/etcd/ca.crt`,
    '--snapshot-count=10000',
    `--trusted-ca-file=${pki}/etcd/ca.crt`,
  ];
  const cm = [
    'kube-controller-manager',
    '--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf',
    '--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf',
    '--bind-address=127.0.0.1',
    `--client-ca-file=${pki}/ca.crt`,
    `--cluster-name=${n.clusterName}`,
    `--cluster-signing-cert-file=${pki}/ca.crt`,
    `--cluster-signing-key-file=${pki}/ca.key`,
    '--controllers=*,bootstrapsigner,tokencleaner',
    '--kubeconfig=/etc/kubernetes/controller-manager.conf',
    '--leader-elect=true',
    `--requestheader-client-ca-file=${pki}/front-proxy-ca.crt`,
    `--root-ca-file=${pki}/ca.crt`,
    `--service-account-private-key-file=${pki}/sa.key`,
    '--use-service-account-credentials=true',
  ];
  const sched = [
    'kube-scheduler',
    '--authentication-kubeconfig=/etc/kubernetes/scheduler.conf',
    '--authorization-kubeconfig=/etc/kubernetes/scheduler.conf',
    '--bind-address=127.0.0.1',
    '--kubeconfig=/etc/kubernetes/scheduler.conf',
    '--leader-elect=true',
  ];
  const etcdPod = pod('etcd', n, etcd, [['etcd-certs', `${pki}/etcd`, false], ['etcd-data', '/var/lib/etcd', false]], [
    `kubeadm.kubernetes.io/etcd.advertise-client-urls: https://${adv}:${n.etcdPort}`,
  ]);
  return {
    ...(n.externalEtcd ? {} : { etcd: etcdPod }),
    'kube-apiserver': pod('kube-apiserver', n, apiserver, [['ca-certs', '/etc/ssl/certs', true], ['k8s-certs', pki, true]], [
      `kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: ${adv}:${n.apiPort}`,
    ]),
    'kube-controller-manager': pod('kube-controller-manager', n, cm, [
      ['ca-certs', '/etc/ssl/certs', true], ['k8s-certs', pki, true], ['kubeconfig', '/etc/kubernetes/controller-manager.conf', true],
    ]),
    'kube-scheduler': pod('kube-scheduler', n, sched, [['kubeconfig', '/etc/kubernetes/scheduler.conf', true]]),
  };
}

/**
 * A network plugin's CNI configuration, as flannel's DaemonSet installs it (10-flannel.conflist): with
 * it the runtime reports the network ready (kubelet-report.ts notReadyMessage).
 */
export const FLANNEL_CONFLIST = {
  name: '10-flannel.conflist',
  text: JSON.stringify({ name: 'cbr0', cniVersion: '0.3.1', plugins: [{ type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } }, { type: 'portmap', capabilities: { portMappings: true } }] }, null, 2) + '\n',
};

export function kubeletConfigYaml(n: NodeConfig, fileCheckFrequency: string): string {
  return [
    'apiVersion: kubelet.config.k8s.io/v1beta1',
    'authentication:',
    '  anonymous:',
    '    enabled: false',
    '  webhook:',
    '    cacheTTL: 0s',
    '    enabled: true',
    '  x509:',
    '    clientCAFile: /etc/kubernetes/pki/ca.crt',
    'authorization:',
    '  mode: Webhook',
    `cgroupDriver: ${n.runtime === 'docker' ? 'cgroupfs' : 'systemd'}`,
    'clusterDNS:',
    `- ${firstServiceIP(n.serviceSubnet).replace(/\.1$/, '.10')}`,
    `clusterDomain: ${n.dnsDomain}`,
    `fileCheckFrequency: ${fileCheckFrequency}`,
    'kind: KubeletConfiguration',
    'rotateCertificates: true',
    'staticPodPath: /etc/kubernetes/manifests',
    'syncFrequency: 0s',
    '',
  ].join('\n');
}

export function kubeadmFlagsEnv(n: NodeConfig): string {
  if (n.runtime === 'docker') {
    return 'KUBELET_KUBEADM_ARGS=--cgroup-driver=cgroupfs --cni-bin-dir=/opt/cni/bin --cni-conf-dir=/etc/cni/net.d --network-plugin=cni\n';
  }
  return `KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=${images(n).pause}"\n`;
}

export function clusterConfigurationYaml(n: NodeConfig): string {
  if (!atLeast(n.version, '1.12.0')) {
    return [
      'api:',
      `  advertiseAddress: ${n.advertiseAddress}`,
      `  bindPort: ${n.apiPort}`,
      'apiServerCertSANs:',
      ...(n.certSANs.length ? n.certSANs.map((s) => `- ${s}`) : []),
      'apiVersion: kubeadm.k8s.io/v1alpha2',
      'certificatesDir: /etc/kubernetes/pki',
      `clusterName: ${n.clusterName}`,
      'kind: MasterConfiguration',
      `kubernetesVersion: ${n.version}`,
      'networking:',
      `  dnsDomain: ${n.dnsDomain}`,
      `  serviceSubnet: ${n.serviceSubnet}`,
      `nodeRegistration:`,
      `  name: ${n.nodeName}`,
      '',
    ].join('\n');
  }
  const api = atLeast(n.version, '1.22.0') ? 'kubeadm.k8s.io/v1beta3' : 'kubeadm.k8s.io/v1beta2';
  return [
    'apiServer:',
    ...(n.certSANs.length ? ['  certSANs:', ...n.certSANs.map((s) => `  - ${s}`)] : []),
    '  extraArgs:',
    '    authorization-mode: Node,RBAC',
    `apiVersion: ${api}`,
    'certificatesDir: /etc/kubernetes/pki',
    `clusterName: ${n.clusterName}`,
    'controllerManager: {}',
    'dns: {}',
    'etcd:',
    ...(n.externalEtcd
      ? ['  external:', `    caFile: ${n.externalEtcd.caFile}`, `    certFile: ${n.externalEtcd.certFile}`, '    endpoints:', `    - ${n.externalEtcd.endpoint}`, `    keyFile: ${n.externalEtcd.keyFile}`]
      : ['  local:', '    dataDir: /var/lib/etcd']),
    'kind: ClusterConfiguration',
    `kubernetesVersion: ${n.version}`,
    'networking:',
    `  dnsDomain: ${n.dnsDomain}`,
    `  serviceSubnet: ${n.serviceSubnet}`,
    'scheduler: {}',
    '',
  ].join('\n');
}
