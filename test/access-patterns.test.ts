/**
 * Host patterns compared with Ansible itself: for every pattern form Ansible documents (groups,
 * hosts, unions with `,` and `:`, `&`, `!`, globs, `~regex`, subscripts `[0]`, `[-1]`, `[0:2]`,
 * `[1:]`, and --limit), `runbook` selects the same hosts in the same order as
 * `ansible PATTERN -i INVENTORY --list-hosts` on one inventory (ansible-core, installed by .ci/run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { loadInventoryText, selectHosts } from '../src/inventory/load.js';
import { isUserError } from '../src/errors.js';

const haveAnsible = spawnSync('sh', ['-c', 'command -v ansible']).status === 0;
const skip = haveAnsible ? false : 'ansible (ansible-core) is not installed';

// nested groups, a host in several groups, ranges, a host only in all (ungrouped), a top-level
// group outside `all`, host names with dots, and a child group listed before the parent's hosts
const INVENTORY = `all:
  hosts:
    bastion.example.com: {}
  children:
    k8s:
      children:
        control_plane:
          hosts:
            cp-0[1:3]: {}
        workers:
          hosts:
            w-b: {}
            w-a: {}
            w-[c:d]: {}
      hosts:
        admin-1: {}
    etcd:
      hosts:
        cp-02: {}
        cp-01: {}
        cp-03: {}
        etcd-ext.example.com: {}
monitoring:
  hosts:
    w-a: {}
    prom-1: {}
`;

const PATTERNS: [string, string?][] = [
  ['all'],
  ['*'],
  ['k8s'],
  ['control_plane'],
  ['control_plane[0]'],
  ['all[0:2]'],
  ['workers[-1]'],
  ['workers[1:]'],
  ['etcd[1:2]'],
  ['control_plane:workers'],
  ['workers:control_plane'],
  ['workers,control_plane'],
  ['etcd,control_plane'],
  ['k8s:!workers'],
  ['!workers:k8s'],
  ['k8s:&etcd'],
  ['etcd:&k8s'],
  ['!workers'],
  ['&etcd'],
  ['cp-*'],
  ['cp-0[!2]'],
  ['w-[a-c]'],
  ['*.example.com'],
  ['w-?'],
  ['~cp-0[13]'],
  ['~(w|e).*'],
  ['etcd:control_plane[0]'],
  ['monitoring'],
  ['monitoring:workers'],
  ['ungrouped'],
  ['cp-02,cp-01'],
  ['k*[0]'],
  ['all', 'workers'],
  ['all', 'control_plane[0]'],
  ['etcd', '!cp-02'],
  ['k8s', 'etcd:monitoring'],
  ['all[1:3]', 'k8s'],
];

/** `ansible PATTERN -i inv --list-hosts [-l LIMIT]`: the host names it prints, in order. */
function ansibleHosts(inv: string, home: string, pattern: string, limit?: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(
      'ansible',
      [pattern, '-i', inv, '--list-hosts', ...(limit ? ['-l', limit] : [])],
      { env: { ...process.env, HOME: home, ANSIBLE_LOCALHOST_WARNING: 'false', ANSIBLE_NOCOLOR: '1' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`ansible ${pattern}: ${stderr || err.message}`));
        const lines = stdout.split('\n');
        const i = lines.findIndex((l) => /^\s*hosts \(\d+\):/.test(l));
        if (i < 0) return reject(new Error(`ansible ${pattern}: no host list in ${stdout}`));
        resolve(lines.slice(i + 1).map((l) => l.trim()).filter(Boolean));
      },
    );
  });
}

test('every Ansible pattern form selects the same hosts in the same order as ansible --list-hosts', { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'access-patterns-'));
  try {
    const inv = join(dir, 'inventory.yaml');
    writeFileSync(inv, INVENTORY);
    const { inventory, diagnostics } = loadInventoryText(INVENTORY, inv);
    assert.ok(inventory, JSON.stringify(diagnostics));
    const limit = pLimit(3);
    const results = await Promise.all(
      PATTERNS.map(([pattern, lim]) =>
        limit(async () => {
          const theirs = await ansibleHosts(inv, dir, pattern, lim);
          const ours = selectHosts(inventory, pattern, lim).map((h) => h.name);
          return { pattern: lim ? `${pattern} -l ${lim}` : pattern, theirs, ours };
        }),
      ),
    );
    const differ = results.filter((r) => JSON.stringify(r.theirs) !== JSON.stringify(r.ours));
    assert.deepEqual(differ, [], 'patterns where runbook and ansible disagree');
    // the comparison is not vacuous: subscripts select real, different hosts
    const by = new Map(results.map((r) => [r.pattern, r.ours]));
    assert.deepEqual(by.get('control_plane[0]'), ['cp-01']);
    assert.deepEqual(by.get('workers[-1]'), ['w-d']);
    assert.equal(by.get('all[0:2]')!.length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a subscript past the end, and a term that matches nothing, are errors naming the pattern', () => {
  const { inventory } = loadInventoryText(INVENTORY, 'inv.yaml');
  assert.throws(() => selectHosts(inventory!, 'control_plane[5]'), (e: unknown) => isUserError(e) && /subscripted pattern `control_plane\[5\]`/.test(e.message));
  assert.throws(() => selectHosts(inventory!, 'k8s:!control_plan'), (e: unknown) => isUserError(e) && /no group or host `control_plan`/.test(e.message) && /control_plane/.test(e.diagnostic.hint ?? ''));
});
