/**
 * The fleet expiry report end to end: runbooks/cert-check.yaml run by the real CLI over SSH on
 * simulated kubeadm nodes of two clusters (plus one host that is down), then `runbook report`
 * writes the HTML page, the Prometheus textfile and JSON. The page is opened in the real Chromium
 * (headless, no network) and must draw one chart per cluster; the textfile is served by the real
 * node_exporter's textfile collector, and every expiry it exports equals the certificate on disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labNetwork, type Lab } from '../src/lab/hosts.js';
import { installSimHost } from '../src/lab/sim-host.js';
import { packageRoot } from '../src/lab/sim/paths.js';
import { runProcess } from './support/run.js';
import { dir, inv, lab, stateDir, useLab } from './support/lab.js';
import { renderedDom, screenshot } from './support/browser.js';
import { freePort } from '../src/lab/sim/index.js';
import { readCertFile } from '../src/lab/sim/pki.js';
import type { FleetReport } from '../src/report/fleet/model.js';
import { waitFor } from '../src/lab/wait.js';

const CLI = join(packageRoot, 'dist/src/cli/main.js');
const CHECK = join(packageRoot, 'runbooks/cert-check.yaml');

let exporter: ChildProcess | undefined;

const run = (cmd: string, args: string[], timeout = 120_000) => runProcess(cmd, args, { cwd: dir, timeout });
const cli = (args: string[]) => run(process.execPath, [CLI, ...args]);

/** the lab's hosts in two clusters, and one more host nobody listens on: the report must show it as not read */
function fleetInventory(l: Lab): string {
  const [a, b, c] = l.hosts as [Lab['hosts'][0], Lab['hosts'][0], Lab['hosts'][0]];
  const inv = l.inventoryYaml().trimEnd().split('\n');
  const hostsAt = inv.findIndex((x) => x.trim() === 'hosts:');
  inv.splice(hostsAt + 1, 0, `    fr-down: { ansible_host: ${labNetwork('127.1.236.250')}, ansible_port: 22, ansible_user: root }`);
  inv.push('  children:', '    control_plane:', '      hosts:');
  inv.push(`        ${a.name}: { cluster: prod }`, `        ${b.name}: { cluster: prod }`, `        ${c.name}: { cluster: staging }`, '        fr-down: { cluster: staging }');
  return inv.join('\n') + '\n';
}

const skip = useLab({
  start: { count: 3, firstAddress: '127.1.236.1', namePrefix: 'fr' },
  tmp: 'runbook-fleet-',
  inventory: fleetInventory,
  setup: async () => {
    const [a, b, c] = lab.hosts as [typeof lab.hosts[0], typeof lab.hosts[0], typeof lab.hosts[0]];
    // cert-check reads files only: no node agent needed
    await Promise.all([installSimHost(lab, a, 'healthy-1.28', { start: false }), installSimHost(lab, b, 'expiring-10d-1.28', { start: false }), installSimHost(lab, c, 'all-expired-1.28', { start: false })]);
  },
  // the exporter the test started, before the lab stops
  teardown: () => {
    if (exporter?.pid) exporter.kill('SIGTERM');
  },
});

test('cert-check → report: HTML drawn by Chromium, Prometheus textfile read by node_exporter, JSON', { skip, timeout: 240_000 }, async () => {
  // the nightly check as two slices of one logical run, as a scheduler would start them
  const checks = await Promise.all([1, 2].map((k) => cli(['apply', CHECK, '-i', inv, '--state-dir', stateDir, '--json', '--slice', `${k}/2`, '--slice-group', 'nightly'])));
  checks.forEach((check, i) => {
    // expiring and expired nodes fail the check, the down host is unreachable
    assert.ok([3, 4, 5].includes(check.code), `cert-check slice ${i + 1} exit ${check.code}\n${check.out}`);
    writeFileSync(join(dir, `check-${i + 1}.jsonl`), check.out);
  });

  const textfiles = join(dir, 'textfile');
  mkdirSync(textfiles);
  const html = join(dir, 'expiry.html');
  const prom = join(textfiles, 'kubeadm.prom');
  const rep = await cli(['report', '--state-dir', stateDir, '--html', html, '--prom', prom, '--json', join(dir, 'report.json')]);
  assert.equal(rep.code, 0, rep.out);
  // the newest run is one slice: the report covers every slice of its group
  assert.match(rep.out, /is slice [12]\/2 of nightly: reporting every slice of it/);
  assert.match(rep.out, /4 nodes: 1 expired, 1 expiring, 1 healthy, 1 not read/);
  assert.match(rep.out, /staging +fr-03 +expired/);
  assert.match(rep.out, /staging +fr-down +unknown/);

  // the same nodes from the lines each slice's `apply --json` printed
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as FleetReport;
  const fromJson: FleetReport['nodes'] = [];
  for (const k of [1, 2]) {
    const r = await cli(['report', '--from', join(dir, `check-${k}.jsonl`), '--json', join(dir, `report-${k}.json`)]);
    assert.equal(r.code, 0, r.out);
    fromJson.push(...(JSON.parse(readFileSync(join(dir, `report-${k}.json`), 'utf8')) as FleetReport).nodes);
  }
  fromJson.sort((a, b) => a.host.localeCompare(b.host));
  assert.deepEqual(fromJson.map((n) => [n.host, n.certs.map((c) => c.notAfter)]), report.nodes.map((n) => [n.host, n.certs.map((c) => c.notAfter)]));
  const group = await cli(['report', '--group', 'nightly', '--state-dir', stateDir]);
  assert.match(group.out, /4 nodes: 1 expired, 1 expiring, 1 healthy, 1 not read/);
  assert.deepEqual(report.nodes.map((n) => [n.cluster, n.host, n.health]), [['prod', 'fr-01', 'healthy'], ['prod', 'fr-02', 'expiring'], ['staging', 'fr-03', 'expired'], ['staging', 'fr-down', 'unknown']]);
  assert.match(report.nodes[2]!.renewCommand, /^runbook apply runbooks\/cert-renew\.yaml -i \S+inventory\.yaml -l fr-03$/);

  // Prometheus: node_exporter's own textfile collector serves it without a scrape error
  const port = await freePort('127.0.0.1');
  exporter = spawn('prometheus-node-exporter', ['--collector.disable-defaults', '--collector.textfile', `--collector.textfile.directory=${textfiles}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  const metrics = await waitFor('node_exporter to serve /metrics', async () => {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      return res.ok ? await res.text() : undefined;
    } catch {
      return undefined;
    }
  }, 20_000, 100);
  assert.match(metrics, /^node_textfile_scrape_error 0$/m);
  for (const h of lab.hosts) {
    for (const name of ['apiserver', 'etcd/peer', 'front-proxy-client']) {
      const onDisk = readCertFile(lab.hostPath(h, `/etc/kubernetes/pki/${name}.crt`));
      const line = new RegExp(`^kubeadm_certificate_expiry_timestamp_seconds\\{cert="${name}",cluster="\\w+",host="${h.name}",kind="certificate",path="[^"]+"\\} (\\S+)$`, 'm').exec(metrics);
      assert.ok(line, `${h.name} ${name} missing from node_exporter's output`);
      assert.equal(Number(line[1]) * 1000, onDisk.notAfter.getTime(), `${h.name} ${name}`);
    }
  }
  assert.match(metrics, /^runbook_cert_check_success\{cluster="staging",host="fr-down"\} 0$/m);
  assert.equal(statSync(prom).mode & 0o777, 0o644);

  // HTML: the real browser, no network, draws a chart per cluster with data (none for the down host's rows)
  const dom = await renderedDom(html, dir);
  assert.match(dom.out, /<html lang="en" data-rendered="2">/, dom.out.slice(0, 2000));
  assert.doesNotMatch(dom.out, /data-error=/);
  assert.match(dom.out, /<section data-cluster="prod">/);
  assert.match(dom.out, /<section data-cluster="staging">/);
  // the per-certificate tables list every certificate the check read
  const rows = (dom.out.match(/<td>fr-0[123]<\/td><td>[^<]+<\/td><td>(certificate|kubeconfig)<\/td>/g) ?? []).length;
  assert.equal(rows, report.nodes.reduce((n, x) => n + x.certs.length, 0));
  assert.match(dom.out, /<code>runbook apply runbooks\/cert-renew\.yaml -i \S+ -l fr-03<\/code>/);
  // and what an operator sees: the page drawn at a desktop size (README's docs/img/fleet-report.png is one)
  const shot = await screenshot(html, dir, 'fleet-report.png');
  assert.deepEqual([shot.width, shot.height], [1400, 1000], shot.out);
  assert.ok(shot.bytes > 20_000, `a drawn page, not a blank one: ${shot.bytes} bytes`);
});
