/**
 * The floor: the least any tool must do for the benchmark — one ssh2 connection per host and the
 * same ten commands, nothing else. Its own process, importing nothing of runbook, so its wall time
 * includes a process start like the tools it is compared with.
 *   node dist/bench/floor.js '{"hosts":[{"address":..,"port":..,"user":..}],"privateKeyPath":..}'
 */
import { readFileSync } from 'node:fs';
import { Client } from 'ssh2';

const BENCH_DIR = '/tmp/runbook-bench';

interface FloorHost {
  address: string;
  port: number;
  user: string;
}

/** The floor: one ssh2 connection per host, the same ten commands, nothing else. */
async function floorRun(lab: { hosts: FloorHost[]; privateKeyPath: string; readyTimeoutMs?: number }): Promise<void> {
  const key = readFileSync(lab.privateKeyPath);
  const commands = [
    `mkdir -p ${BENCH_DIR}`,
    `test -f ${BENCH_DIR}/a.txt`,
    `test -f ${BENCH_DIR}/b.txt`,
    `test -e ${BENCH_DIR}/c.marker || touch ${BENCH_DIR}/c.marker`,
    `mkdir -p ${BENCH_DIR}/sub`,
    `cat ${BENCH_DIR}/a.txt`,
    'true',
    `stat -c %a ${BENCH_DIR}/a.txt`,
    `test -f ${BENCH_DIR}/sub/d.txt`,
    `test -e ${BENCH_DIR}/a.txt`,
  ];
  await Promise.all(
    lab.hosts.map(
      (h) =>
        new Promise<void>((resolve, reject) => {
          const c = new Client();
          // an async body under a void callback: it catches everything itself (reject)
          c.on('ready', () => void (async () => {
            // without TCP_NODELAY every small exec waits out a delayed ACK (~40 ms); any fast client sets it
            c.setNoDelay(true);
            try {
              for (const cmd of commands) {
                await new Promise<void>((res, rej) =>
                  c.exec(cmd, (err, stream) => {
                    if (err) return rej(err);
                    stream.on('close', () => res()).on('data', () => {}).stderr.on('data', () => {});
                  }),
                );
              }
              c.end();
              resolve();
            } catch (e) {
              reject(e);
            }
          })());
          c.on('error', reject);
          c.connect({ host: h.address, port: h.port, username: h.user, privateKey: key, readyTimeout: lab.readyTimeoutMs ?? 30_000 });
        }),
    ),
  );
}


// `@FILE`: the hosts in a file (2,000 hosts are more than one command-line argument may hold)
const raw = process.argv[2] ?? '{}';
const arg = JSON.parse(raw.startsWith('@') ? readFileSync(raw.slice(1), 'utf8') : raw) as { hosts: FloorHost[]; privateKeyPath: string; readyTimeoutMs?: number };
floorRun(arg).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
