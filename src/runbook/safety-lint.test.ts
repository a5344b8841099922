import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDiagnostic } from '../errors.js';
import { loadRunbookText } from './load.js';

const TEXT = `apiVersion: runbook/v1
name: t
hosts: all
on_failure: stop
steps:
  - name: before any backup, no warning as on_failure is not rollback
    command: { argv: [touch, /etc/a], creates: /etc/a }
  - name: back up
    backup: { paths: [/etc/kubernetes], to: "/var/backups/runbook/{{ run.id }}" }
  - name: undeclared
    command: { argv: [sh, -c, 'echo x >> /var/lib/kubelet/config.yaml'], changed_when: true }
    notify: reload
  - name: bare list
    command: [kubeadm, certs, renew, all]
  - name: declared
    command: { argv: [kubeadm, certs, renew, all], writes: ["/etc/kubernetes/pki", "/etc/kubernetes/admin.conf"] }
  - name: declared none
    shell: { script: 'systemctl daemon-reload', writes: [] }
  - name: quiet
    command: { argv: [kubectl, get, --raw, /healthz], changed_when: false }
  - name: read only
    command: { argv: [kubeadm, version], read_only: true }
  - name: delegated (the other host's change)
    command: { argv: [kubeadm, token, create], changed_when: true }
    delegate_to: localhost
handlers:
  - name: reload
    shell: { script: 'systemctl reload x', changed_when: true }
`;

test('validate: a command or shell step (a handler too) after a backup that may change the host and declares no writes is warned about at its line:col', () => {
  const { diagnostics } = loadRunbookText(TEXT, 'rb.yaml');
  const lines = diagnostics.map(formatDiagnostic).filter((l) => l.includes('writes:`'));
  assert.deepEqual(lines.map((l) => l.split(': warning: ')[0] + ' ' + /step "([^"]+)"/.exec(l)?.[1]), ['rb.yaml:10:5 undeclared', 'rb.yaml:13:5 bare list', 'rb.yaml:27:5 reload']);
  // a runbook without a backup step: nothing to be covered by, no such warning
  const none = loadRunbookText(TEXT.replace(/ {2}- name: back up\n.*\n/, ''), 'rb.yaml').diagnostics.map(formatDiagnostic);
  assert.deepEqual(none.filter((l) => l.includes('writes:`')), []);
});
