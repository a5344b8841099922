/** `runbook connect [PATTERN]`: connect to each host once (host keys checked) and report; with --accept-new, records new keys. */
import type { Command } from 'commander';
import pLimit from 'p-limit';
import { colors as pc } from '../report/colors.js';
import { isUserError, messageOf } from '../errors.js';
import { selectHosts } from '../inventory/load.js';
import { openTransport } from '../engine/connect.js';
import { DEFAULT_FORKS } from '../engine/host-connection.js';
import { EXIT } from './exit-codes.js';
import { addConnectionOptions, addHostOptions, connectOptions, loadHostsInventory, positiveInt, type ConnectionCliOptions, type HostsCliOptions } from './run-options.js';

export interface ConnectCmdOptions extends ConnectionCliOptions, HostsCliOptions {
  pattern?: string;
  forks?: number;
  json?: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

export interface ConnectRow {
  host: string;
  ok: boolean;
  ms: number;
  kind?: string;
  message?: string;
  /** `uname -n` on the host */
  hostname?: string;
}

export async function connectCmd(o: ConnectCmdOptions): Promise<{ exitCode: number; rows: ConnectRow[] }> {
  const out = o.stdout ?? process.stdout;
  const inv = await loadHostsInventory(o, o.stderr ?? process.stderr);
  if (!inv) return { exitCode: EXIT.invalidInput, rows: [] };
  const hosts = selectHosts(inv, o.pattern ?? 'all', o.limit);
  const conn = await connectOptions(o);
  const limit = pLimit(o.forks ?? DEFAULT_FORKS);
  const rows = await Promise.all(
    hosts.map((h) =>
      limit(async (): Promise<ConnectRow> => {
        const t0 = Date.now();
        try {
          const t = await openTransport(h, conn);
          try {
            const r = await t.exec(['uname', '-n']);
            return { host: h.name, ok: true, ms: Date.now() - t0, hostname: r.stdout.trim() };
          } finally {
            await t.close().catch(() => undefined);
          }
        } catch (e) {
          return { host: h.name, ok: false, ms: Date.now() - t0, kind: isUserError(e) ? e.kind : 'connect', message: messageOf(e) };
        }
      }),
    ),
  );
  const w = Math.max(4, ...rows.map((r) => r.host.length));
  for (const r of rows) {
    if (o.json) out.write(JSON.stringify(r) + '\n');
    else out.write(`${r.host.padEnd(w)}  ${r.ok ? pc.green('ok') : pc.red(r.kind === 'host-key' ? 'host key refused' : 'unreachable')}  ${r.ok ? `${r.hostname} (${r.ms} ms)` : r.message}\n`);
  }
  return { exitCode: rows.every((r) => r.ok) ? EXIT.ok : EXIT.unreachableHosts, rows };
}

export function register(program: Command): void {
  const cmd = program
    .command('connect')
    .description('connect to each host once, verifying host keys, and report who answers (--accept-new records unknown keys)')
    .argument('[pattern]', 'hosts pattern (default all)')
    .option('-f, --forks <n>', 'connections at once', positiveInt('--forks'))
    .option('--json', 'one JSON object per host');
  addConnectionOptions(addHostOptions(cmd)).action(async (pattern: string | undefined, opts: Omit<ConnectCmdOptions, 'pattern'>) => {
    const { exitCode } = await connectCmd({ ...opts, ...(pattern ? { pattern } : {}) });
    process.exitCode = exitCode;
  });
}
