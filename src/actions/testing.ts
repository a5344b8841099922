/** Test helpers for the step types: a context on this machine (LocalTransport) and temp dirs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTransport } from '../transport/local.js';
import { evaluate, renderTemplate } from '../runbook/expressions.js';
import type { Transport } from '../transport/types.js';
import type { StepContext } from './types.js';

export function tempDir(prefix = 'runbook-actions-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A transport that records every call, wrapping another one. */
export class RecordingTransport implements Transport {
  readonly calls: string[] = [];
  constructor(private readonly inner: Transport) {}
  get host(): string {
    return this.inner.host;
  }
  exec(...a: Parameters<Transport['exec']>) {
    this.calls.push(`exec ${a[0].map(String).join(' ')}`);
    return this.inner.exec(...a);
  }
  read(path: string) {
    this.calls.push(`read ${path}`);
    return this.inner.read(path);
  }
  writeAtomic(...a: Parameters<Transport['writeAtomic']>) {
    this.calls.push(`write ${a[0]}`);
    return this.inner.writeAtomic(...a);
  }
  stat(path: string) {
    this.calls.push(`stat ${path}`);
    return this.inner.stat(path);
  }
  close() {
    return this.inner.close();
  }
}

export function makeCtx(overrides: Partial<StepContext> & { vars?: Record<string, unknown> } = {}): StepContext & { transport: RecordingTransport } {
  const { vars = {}, ...rest } = overrides;
  const transport = rest.transport ? new RecordingTransport(rest.transport) : new RecordingTransport(new LocalTransport());
  return {
    hostName: 'localhost',
    runId: 'test-run-1',
    dryRun: false,
    localDir: tmpdir(),
    runbookDir: tmpdir(),
    // kept copies (./keep.ts) go to a temp dir, never this machine's /var/lib/runbook
    keepRoot: join(tmpdir(), 'runbook-actions-kept'),
    evaluate: (expression, extra) => evaluate(expression, { ...vars, ...(extra ?? {}) }),
    render: (template) => renderTemplate(template, vars),
    ...rest,
    transport,
  };
}
