/**
 * Where an x509 step's files come from: over SFTP, each read started as soon as its path is known
 * (sftpSource), or, when files go through sudo, from ONE exec of a literal sh script (find + base64,
 * coreutils) plus one more for the files kubeconfigs name (execSource). The host needs no openssl.
 */
import { posix } from 'node:path';
import pLimit from 'p-limit';
import { UserError } from '../errors.js';
import type { StepContext } from './types.js';
import type { Transport } from '../transport/types.js';
import { describeExit, run, stepError } from './util.js';

/** A file's bytes, or undefined when it is missing or unreadable. */
export type Bytes = Buffer | undefined;

export interface FileSource {
  /** every *.crt under the step's directory (find's rules) with its bytes; empty without a directory */
  dirCerts(): Promise<Map<string, Bytes>>;
  file(path: string): Promise<Bytes>;
  /** Start nothing more and wait for what is still running: a step's reads end with the step. */
  settle(): Promise<void>;
}

/**
 * Prints each "$@" as `@<path>` (or `#<base64 path>` when the path holds a line break), then the
 * file as base64, or `!` when unreadable. One process per file (its base64): at hundreds of hosts
 * the processes a check starts on each host are what it costs.
 */
const EMIT_LOOP = [
  "nl='\n'", // a line break, without a subshell
  'for f in "$@"; do',
  '  case $f in',
  "    *\"$nl\"*) printf '#'; printf '%s' \"$f\" | base64 | tr -d '\\n'; printf '\\n' ;;",
  "    *) printf '@%s\\n' \"$f\" ;;",
  '  esac',
  "  if [ -f \"$f\" ] && [ -r \"$f\" ]; then base64 < \"$f\" || echo '!'; else echo '!'; fi",
  'done',
].join('\n');

/**
 * $1 = EMIT_LOOP, $2 = a directory ('' for none), then files: the *.crt under the directory, a `%`
 * line, then the files.
 */
const READ_SCRIPT = [
  'loop=$1; d=$2; shift 2',
  'if [ -n "$d" ]; then',
  '  [ -d "$d" ] || { echo "$d is not a directory" >&2; exit 2; }',
  "  find \"$d\" -name '*.crt' \\( -type f -o -type l \\) -exec sh -c \"$loop\" sh {} + || exit 3",
  'fi',
  "printf '%%\\n'",
  // the loop is this module's constant text, run on the files in "$@" without another shell
  '[ $# -eq 0 ] || eval "$loop"',
].join('\n');

interface ReadResult {
  /** the *.crt under the directory: path → bytes */
  inDir: Map<string, Bytes>;
  /** the named files: path → bytes */
  files: Map<string, Bytes>;
}

/** One exec: the *.crt under `dir` (when given) and `files`. */
async function readByExec(ctx: StepContext, dir: string | undefined, files: string[]): Promise<ReadResult> {
  const out: ReadResult = { inDir: new Map(), files: new Map() };
  if (dir === undefined && files.length === 0) return out;
  const r = await run(ctx, ['sh', '-c', READ_SCRIPT, 'sh', EMIT_LOOP, dir ?? '', ...files]);
  if (r.code !== 0) throw stepError(`x509: cannot read ${[...(dir !== undefined ? [dir] : []), ...files].join(', ')}: ${describeExit(r)}`);
  let target = out.inDir;
  let current: string | undefined;
  let chunks: string[] = [];
  let missing = false;
  const flush = () => {
    if (current !== undefined) target.set(current, missing ? undefined : Buffer.from(chunks.join(''), 'base64'));
    current = undefined;
  };
  for (const line of r.stdout.split('\n')) {
    if (line === '%') {
      flush();
      target = out.files;
    } else if (line.startsWith('@') || line.startsWith('#')) {
      flush();
      current = line.startsWith('@') ? line.slice(1) : Buffer.from(line.slice(1), 'base64').toString('utf8');
      chunks = [];
      missing = false;
    } else if (line === '!') missing = true;
    else if (line) chunks.push(line);
  }
  flush();
  return out;
}

type ListingTransport = Transport & { list: NonNullable<Transport['list']> };

/**
 * At most this many reads of one step in flight (sftp-server holds a handle for each; listings,
 * a directory or two, come on top).
 */
const READS_IN_FLIGHT = 16;
/** read errors that mean the file is missing or unreadable (the exec path's `!`) */
const UNREADABLE = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'EISDIR']);

/** The first rejection in the order given, once every one has settled (whichever came first in time). */
export async function allInOrder<T>(work: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(work);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/**
 * Files over SFTP, no process on the host. Each read starts as soon as its path is known (a
 * directory's certificates while its subdirectories are still listed, the kubeconfigs' client
 * certificates as soon as the step's kubeconfigs are read and parsed), so a host costs the longest chain of round
 * trips, not their sum: what a fleet-wide check over a slow link waits for. Reads are shared by
 * path. find's rules: *.crt files and symlinks, no descent into a symlinked directory.
 */
function sftpSource(t: ListingTransport, dir: string | undefined): FileSource {
  const limit = pLimit(READS_IN_FLIGHT);
  const reads = new Map<string, Promise<Bytes>>();
  let stopped = false;
  const file = (path: string): Promise<Bytes> => {
    let r = reads.get(path);
    if (!r) {
      r = limit(async () => {
        if (stopped) return undefined; // queued when the step ended: nobody waits for it
        return t.read(path).catch((e: unknown) => {
          // absent or unreadable is "missing", as in the exec path; a broken connection is an error, never a missing file
          if (e instanceof UserError && e.kind === 'io' && UNREADABLE.has(e.diagnostic.errno ?? '')) return undefined;
          throw e;
        });
      });
      // a read nobody awaits (its directory's walk failed) must not crash the run; settle() waits for it
      r.catch(() => undefined);
      reads.set(path, r);
    }
    return r;
  };
  const dirCerts = async (): Promise<Map<string, Bytes>> => {
    if (dir === undefined) return new Map();
    const found = new Map<string, Promise<Bytes>>();
    const walk = async (d: string, top: boolean): Promise<void> => {
      const entries = await t.list(d);
      if (!entries) {
        if (top) throw stepError(`x509: cannot read ${d}: it is not a directory`);
        return; // removed while listed
      }
      // every listing settles before the walk does: none outlives the step
      await allInOrder(
        entries.map(async (e) => {
          const p = posix.join(d, e.name);
          if (e.type === 'directory') await walk(p, false);
          else if (e.name.endsWith('.crt') && (e.type === 'file' || e.type === 'symlink')) found.set(p, file(p));
        }),
      );
    };
    await walk(dir, true);
    return new Map(await Promise.all([...found].map(async ([p, r]) => [p, await r] as const)));
  };
  const settle = async () => {
    stopped = true;
    await Promise.allSettled(reads.values());
  };
  return { dirCerts, file, settle };
}

/**
 * Files through sudo: ONE exec for the directory and the named files; the paths asked for later
 * (kubeconfigs' client certificates) in one more exec for all of them. The batch waits a
 * macrotask, not a microtask: each kubeconfig asks for its files several awaits after the first
 * exec's answer, all inside the same drain of the microtask queue.
 */
function execSource(ctx: StepContext, dir: string | undefined, files: string[]): FileSource {
  const first = readByExec(ctx, dir, files);
  first.catch(() => undefined); // awaited by whoever asks; a step with nothing to ask must not crash on it
  const named = new Set(files);
  let batch: { paths: Set<string>; read: Promise<ReadResult> } | undefined;
  const file = async (path: string): Promise<Bytes> => {
    if (named.has(path)) return (await first).files.get(path);
    if (!batch) {
      const paths = new Set<string>();
      const read = new Promise<void>((res) => setImmediate(res)).then(() => {
        batch = undefined;
        return readByExec(ctx, undefined, [...paths]);
      });
      batch = { paths, read };
    }
    batch.paths.add(path);
    return (await batch.read).files.get(path);
  };
  // every exec is awaited by the part of the step that asked for it
  return { dirCerts: async () => (await first).inDir, file, settle: async () => undefined };
}

export function fileSource(ctx: StepContext, dir: string | undefined, files: string[]): FileSource {
  const t = ctx.transport;
  return t.filesInProcess === true && t.list ? sftpSource(t as ListingTransport, dir) : execSource(ctx, dir, files);
}

