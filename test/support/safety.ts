// What the safety-contract lab tests (test/safety-lab, test/safety-partial) share: every host reset
// to one app tree, runbooks written into the file's dir, apply with its JSON events and recap.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyCmd } from '../../src/cli/apply.js';
import type { Event } from '../../src/engine/events.js';
import { cmdOptions, dir, lab } from './lab.js';

export const APP = '/etc/kubernetes/app';

/** Every host: /etc/kubernetes/app with a.conf; nothing else under /etc/kubernetes; no backups, no lock. */
export function resetHosts(): void {
  for (const h of lab.hosts) {
    // /etc/kubernetes is a bind mount on the host: empty it, never remove it
    const kube = lab.hostPath(h, '/etc/kubernetes');
    for (const e of readdirSync(kube)) rmSync(join(kube, e), { recursive: true, force: true });
    mkdirSync(lab.hostPath(h, APP), { recursive: true });
    writeFileSync(lab.hostPath(h, `${APP}/a.conf`), `original on ${h.name}\n`);
    const backups = lab.hostPath(h, '/var/backups');
    for (const e of readdirSync(backups)) rmSync(join(backups, e), { recursive: true, force: true });
    rmSync(lab.hostPath(h, '/var/lib/runbook/lock'), { force: true });
  }
}

/** writeRunbook(body, head): <dir>/rb-N.yaml, a runbook named `<name>-N` with `head` (default every host) then `body` */
export function runbookWriter(name: string): (body: string, head?: string) => string {
  let n = 0;
  return (body, head = 'hosts: all\n') => {
    const f = join(dir, `rb-${++n}.yaml`);
    writeFileSync(f, `apiVersion: runbook/v1\nname: ${name}-${n}\n${head}${body}`);
    return f;
  };
}

/** apply --json on the file's inventory and state dir: the result, its events, each host's recap row and status */
export async function apply(rbFile: string, extra: Record<string, unknown> = {}) {
  const o = cmdOptions({ runbook: rbFile, json: true, ...extra });
  const r = await applyCmd(o);
  const events = o.stdout.text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Event);
  const rows = Object.fromEntries(r.result!.recap.map((x) => [x.host, x]));
  const status = Object.fromEntries(r.result!.recap.map((x) => [x.host, x.status]));
  return { r, o, events, rows, status, text: o.stdout.text + o.stderr.text };
}
