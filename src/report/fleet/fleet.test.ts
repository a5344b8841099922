import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Event } from '../../engine/events.js';
import { emptyCounts } from '../../engine/events.js';
import { fleetFromEvents, mergeReports } from './model.js';
import { prometheusText } from './prometheus.js';
import { fleetHtml } from './html.js';

const NOW = new Date('2026-11-30T12:00:00Z');
const DAY = 86_400_000;
const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();

function cert(name: string, daysLeft: number, extra: Record<string, unknown> = {}) {
  return { name, path: `/etc/kubernetes/pki/${name}.crt`, source: 'file', cn: name, not_before: at(daysLeft - 365), not_after: at(daysLeft), days_left: daysLeft, expired: daysLeft < 0, is_ca: false, serial: '01', ...extra };
}

function runStart(hosts: { name: string; vars?: Record<string, unknown> }[]): Event {
  return {
    kind: 'run-start',
    runId: '20261130T120000Z-abc123',
    mode: 'apply',
    dryRun: false,
    time: NOW.toISOString(),
    operator: 'op@here',
    pid: 1,
    runbook: { file: '/rb/cert-check.yaml', name: 'kubeadm-cert-check', sha256: 'x' },
    inventory: { file: '/inv.yaml', pattern: 'all', hosts: hosts.map((h) => ({ name: h.name, address: '127.0.0.1', port: 22, connection: 'ssh', become: false, groups: ['all'], vars: h.vars ?? {} })) },
  } as unknown as Event; // only the fields the model reads; the rest of run-start is irrelevant here
}

function x509End(host: string, certs: unknown[], within = '30d'): Event {
  return { kind: 'step-end', host, step: 's1', name: 'read', type: 'x509', index: 1, total: 2, status: 'ok', commands: [], durationMs: 1, report: { within, checked_at: NOW.toISOString(), certs } };
}

test('fleet model: health per certificate and node, clusters from host vars, unreachable nodes kept', () => {
  const events: Event[] = [
    runStart([{ name: 'b-cp1', vars: { cluster: 'prod' } }, { name: 'a-cp1', vars: { cluster_name: 'dev' } }, { name: 'gone' }]),
    x509End('b-cp1', [cert('apiserver', -3), cert('ca', 3000, { is_ca: true }), cert('front-proxy-client', 200)]),
    // a second x509 step on the same node adds kubeconfigs and repeats nothing
    x509End('b-cp1', [cert('apiserver', -3), { ...cert('admin.conf', 10), source: 'kubeconfig', path: '/etc/kubernetes/admin.conf' }]),
    x509End('a-cp1', [cert('apiserver', 300)], '400d'),
    { kind: 'host-unreachable', host: 'gone', errorKind: 'connect', message: 'connection refused' },
    { kind: 'host-end', host: 'gone', status: 'unreachable', counts: emptyCounts(), durationMs: 1 },
  ];
  const r = fleetFromEvents(events, { now: NOW });
  assert.deepEqual(r.nodes.map((n) => [n.cluster, n.host, n.health]), [['default', 'gone', 'unknown'], ['dev', 'a-cp1', 'expiring'], ['prod', 'b-cp1', 'expired']]);
  const b = r.nodes.find((n) => n.host === 'b-cp1')!;
  assert.deepEqual(b.certs.map((c) => [c.name, c.kind, c.health]), [['apiserver', 'certificate', 'expired'], ['admin.conf', 'kubeconfig', 'expiring'], ['front-proxy-client', 'certificate', 'healthy'], ['ca', 'certificate', 'healthy']]);
  assert.equal(b.renewCommand, 'runbook apply runbooks/cert-renew.yaml -i /inv.yaml -l b-cp1');
  assert.equal(r.nodes.find((n) => n.host === 'gone')!.error, 'connection refused');
  // the window comes from the check: 300 days left is inside a 400d window
  assert.equal(r.nodes.find((n) => n.host === 'a-cp1')!.withinMs, 400 * DAY);
  assert.throws(() => fleetFromEvents([x509End('x', [])]), /no run-start/);
  // a report made later counts days from its own time, like its health
  const later = fleetFromEvents(events, { now: new Date(NOW.getTime() + 5 * DAY) });
  assert.deepEqual(later.nodes.find((n) => n.host === 'b-cp1')!.certs.map((c) => [c.name, c.daysLeft, c.health]).slice(0, 2), [['apiserver', -8, 'expired'], ['admin.conf', 5, 'expiring']]);
  // the renew command is pasted into a shell: quoted
  const odd = fleetFromEvents([runStart([{ name: "cp 1;rm -rf /'" }]), x509End("cp 1;rm -rf /'", [cert('apiserver', 1)])], { now: NOW });
  assert.equal(odd.nodes[0]!.renewCommand, `runbook apply runbooks/cert-renew.yaml -i /inv.yaml -l 'cp 1;rm -rf /'\\'''`);
});

test('slices of one run merge into one fleet: every node once, the latest check winning', () => {
  const a = fleetFromEvents([runStart([{ name: 'n1' }, { name: 'n2' }]), x509End('n1', [cert('apiserver', 3)])], { now: NOW });
  const b = fleetFromEvents([runStart([{ name: 'n2' }, { name: 'n3' }]), x509End('n2', [cert('apiserver', 90)]), x509End('n3', [cert('apiserver', 200)])], { now: NOW });
  const m = mergeReports('nightly', [a, b]);
  assert.equal(m.runId, 'nightly');
  assert.deepEqual(m.nodes.map((n) => [n.host, n.health]), [['n1', 'expiring'], ['n2', 'healthy'], ['n3', 'healthy']]);
});

test('Prometheus text: expiry timestamps per certificate, check status per node, label values escaped', async () => {
  const r = fleetFromEvents([runStart([{ name: 'cp"1\\x', vars: { cluster: 'c1' } }, { name: 'down' }]), x509End('cp"1\\x', [cert('apiserver', 10)])], { now: NOW });
  const text = await prometheusText(r);
  const expiry = Date.parse(at(10)) / 1000;
  assert.ok(text.includes(`kubeadm_certificate_expiry_timestamp_seconds{cluster="c1",host="cp\\"1\\\\x",cert="apiserver",kind="certificate",path="/etc/kubernetes/pki/apiserver.crt"} ${expiry}`), text);
  assert.match(text, /^# TYPE kubeadm_certificate_expiry_timestamp_seconds gauge$/m);
  assert.match(text, /^runbook_cert_check_success\{cluster="default",host="down"\} 0$/m);
  assert.match(text, /^runbook_cert_check_success\{cluster="c1",host="cp\\"1\\\\x"\} 1$/m);
  assert.match(text, new RegExp(`^runbook_cert_check_last_run_timestamp_seconds\\{cluster="c1",host="cp\\\\"1\\\\\\\\x"\\} ${NOW.getTime() / 1000}$`, 'm'));
  assert.match(text, /^runbook_cert_check_renew_window_seconds\{cluster="c1",host="cp\\"1\\\\x"\} 2592000$/m);
  // the unreachable node has no certificate series at all (no stale zeros)
  assert.doesNotMatch(text, /kubeadm_certificate_expiry_timestamp_seconds\{[^}]*host="down"/);
});

test('HTML: self-contained (no network), data never becomes markup', () => {
  const hostile = '</script><img src=x onerror=alert(1)>';
  const r = fleetFromEvents([runStart([{ name: hostile, vars: { cluster: '<b>c</b>' } }]), x509End(hostile, [cert('apiserver', 5)])], { now: NOW });
  const html = fleetHtml(r);
  // the only script end tags are the page's own four
  assert.equal(html.match(/<\/script>/g)?.length, 4);
  assert.ok(!html.includes('<img src=x'), 'a host name became markup');
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|@import|url\(http/i);
  assert.match(html, /Chart\.register|chart\.js/i);
  // the data block parses back to the same report
  const json = /<script type="application\/json" id="fleet-data">([^]*?)<\/script>/.exec(html)![1]!;
  assert.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(r)));
});
