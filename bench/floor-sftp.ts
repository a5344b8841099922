/**
 * The fleet cert-check floor (issue #12 item 2): one ssh2 connection per host, one SFTP session, and
 * the certificate files `runbooks/cert-check.yaml` reads — every *.crt under /etc/kubernetes/pki
 * (recursively), the five kubeconfigs (super-admin.conf is absent on most nodes), and the client
 * certificate file a kubeconfig points at — read over SFTP, all of one host's reads in flight at
 * once. Nothing is parsed. Its own process, importing nothing of runbook, so its wall time includes
 * a process start like runbook's.
 *   node dist/bench/floor-sftp.js @hosts.json   ({"hosts":[{"address","port","user"}],"privateKeyPath"})
 * Prints one line: the number of hosts and files read.
 */
import { readFileSync } from 'node:fs';
import { Client, type SFTPWrapper } from 'ssh2';

const PKI = '/etc/kubernetes/pki';
const KUBECONFIGS = ['admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf', 'kubelet.conf'].map((f) => `/etc/kubernetes/${f}`);
/** kubeadm ≥ 1.17's kubelet.conf names this file instead of embedding the certificate */
const KUBELET_CLIENT = '/var/lib/kubelet/pki/kubelet-client-current.pem';

interface FloorHost {
  address: string;
  port: number;
  user: string;
}

function readdir(sftp: SFTPWrapper, dir: string): Promise<{ filename: string; longname: string }[]> {
  return new Promise((res, rej) => sftp.readdir(dir, (err, list) => (err ? rej(err) : res(list))));
}

/** The file's bytes, or undefined when it does not exist (as the runbook reports it missing). */
function readFile(sftp: SFTPWrapper, path: string): Promise<Buffer | undefined> {
  return new Promise((res, rej) =>
    sftp.readFile(path, (err, data) => {
      if (!err) return res(data);
      if ((err as { code?: number }).code === 2) return res(undefined); // SSH_FX_NO_SUCH_FILE
      rej(err);
    }),
  );
}

/** Every *.crt under `dir`, its subdirectories read concurrently. */
async function certFiles(sftp: SFTPWrapper, dir: string): Promise<string[]> {
  const entries = await readdir(sftp, dir);
  const nested = await Promise.all(entries.map((e) => (e.longname.startsWith('d') ? certFiles(sftp, `${dir}/${e.filename}`) : Promise.resolve(e.filename.endsWith('.crt') ? [`${dir}/${e.filename}`] : []))));
  return nested.flat();
}

async function hostFiles(sftp: SFTPWrapper): Promise<number> {
  const [certs, confs] = await Promise.all([certFiles(sftp, PKI).then((fs) => Promise.all(fs.map((f) => readFile(sftp, f)))), Promise.all([...KUBECONFIGS, KUBELET_CLIENT].map((f) => readFile(sftp, f)))]);
  return [...certs, ...confs].filter((b) => b !== undefined).length;
}

function floorHost(h: FloorHost, key: Buffer, readyTimeout: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on('ready', () => {
      c.setNoDelay(true); // as the other floor: no delayed-ACK wait on small round trips
      c.sftp((err, sftp) => {
        if (err) return reject(err);
        hostFiles(sftp).then(
          (n) => {
            c.end();
            resolve(n);
          },
          (e: unknown) => {
            c.end();
            reject(e instanceof Error ? e : new Error(String(e)));
          },
        );
      });
    });
    c.on('error', reject);
    c.connect({ host: h.address, port: h.port, username: h.user, privateKey: key, readyTimeout });
  });
}

const raw = process.argv[2] ?? '{}';
const arg = JSON.parse(raw.startsWith('@') ? readFileSync(raw.slice(1), 'utf8') : raw) as { hosts: FloorHost[]; privateKeyPath: string; readyTimeoutMs?: number };
const key = readFileSync(arg.privateKeyPath);
Promise.all(arg.hosts.map((h) => floorHost(h, key, arg.readyTimeoutMs ?? 30_000))).then(
  (counts) => {
    console.log(`${counts.length} hosts, ${counts.reduce((a, b) => a + b, 0)} files`);
    process.exit(0);
  },
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
