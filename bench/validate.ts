/**
 * Benchmark: validating a 2,000-step runbook (target: under 300 ms).
 * Run: npm run build && node dist/bench/validate.js [--steps 2000] [--runs 7]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadRunbookText } from '../src/runbook/load.js';

export function bigRunbook(steps: number): string {
  const lines = [
    'apiVersion: runbook/v1',
    'name: big',
    'hosts: all',
    'on_failure: rollback',
    'vars:',
    '  kube_dir: /etc/kubernetes',
    '  backup_dir: "/var/backups/runbook/{{ run.id }}"',
    'steps:',
    '  - name: back up',
    '    backup: { paths: ["{{ kube_dir }}"], to: "{{ backup_dir }}" }',
    '  - name: read certs',
    '    x509: { dir: "{{ kube_dir }}/pki" }',
    '    register: certs',
  ];
  for (let i = 0; i < steps - 2; i++) {
    switch (i % 4) {
      case 0:
        lines.push(`  - name: step ${i} command`, `    command: { argv: [ls, "{{ kube_dir }}/pki/${i}"], creates: /tmp/x${i} }`, `    when: size(certs.expiring) > ${i % 7}`, `    register: r${i}`);
        break;
      case 1:
        lines.push(`  - name: step ${i} file`, `    file: { path: "/tmp/{{ run.id }}/${i}", state: directory, mode: "0755" }`);
        break;
      case 2:
        lines.push(`  - name: step ${i} wait`, `    wait_for: { command: [kubectl, version], stdout_contains: Server, retries: 3, delay: 1s }`, `    when: changed(r${i - 2})`);
        break;
      default:
        lines.push(`  - name: step ${i} assert`, `    assert: { that: ["r${i - 3}.code == 0", "size(certs.certs) >= 0"] }`);
    }
  }
  return lines.join('\n') + '\n';
}

export function benchValidate(steps: number, runs: number): { medianMs: number; samples: number[] } {
  const text = bigRunbook(steps);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = loadRunbookText(text, 'big.yaml');
    const ms = performance.now() - t0;
    if (!r.runbook) throw new Error('generated runbook did not validate: ' + r.diagnostics.slice(0, 3).map((d) => d.message).join('; '));
    if (r.runbook.steps.length !== steps) throw new Error(`expected ${steps} steps, got ${r.runbook.steps.length}`);
    samples.push(ms);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor(sorted.length / 2)]!, samples };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { steps: { type: 'string', default: '2000' }, runs: { type: 'string', default: '7' } } });
  const r = benchValidate(Number(values.steps), Number(values.runs));
  console.log(`validate ${values.steps} steps: median ${r.medianMs.toFixed(1)} ms (first run ${r.samples[0]!.toFixed(1)} ms; runs: ${r.samples.map((s) => s.toFixed(0)).join(', ')})`);
}
