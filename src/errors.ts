/**
 * Errors are values: a kind, a message a tired operator understands, and where it happened.
 * `UserError` carries one across layers; the CLI prints it without a stack trace.
 * Anything else that escapes is an internal error and asks for a bug report.
 */
export type ErrorKind =
  | 'yaml' // YAML syntax
  | 'schema' // shape of a runbook / inventory
  | 'expression' // CEL syntax or evaluation
  | 'undefined-variable'
  | 'inventory'
  | 'usage' // command line
  | 'io' // reading local files
  | 'connect' // SSH connection, authentication
  | 'host-key' // host key unknown or changed
  | 'lock' // host locked by another run
  | 'step' // a step failed on a host
  | 'timeout'
  | 'plan-stale' // saved plan no longer matches
  | 'rollback'
  | 'internal';

export type Severity = 'error' | 'warning';

export interface Location {
  file?: string;
  /** 1-based */
  line?: number;
  /** 1-based */
  col?: number;
  host?: string;
  step?: string;
}

export interface Diagnostic extends Location {
  kind: ErrorKind;
  severity: Severity;
  message: string;
  hint?: string;
  /** I/O errors: the errno name (ENOENT, EACCES, EISDIR, EIO...); only ENOENT means "absent" */
  errno?: string;
}

export class UserError extends Error {
  readonly diagnostic: Diagnostic;
  constructor(diagnostic: Omit<Diagnostic, 'severity'> & { severity?: Severity }) {
    super(diagnostic.message);
    this.name = 'UserError';
    this.diagnostic = { severity: 'error', ...diagnostic };
  }
  get kind(): ErrorKind {
    return this.diagnostic.kind;
  }
}

export function userError(kind: ErrorKind, message: string, where: Location & { hint?: string } = {}): UserError {
  return new UserError({ kind, message, ...where });
}

/** `file:line:col: message` for file positions; `host/step: message` for run-time errors. */
export function formatDiagnostic(d: Diagnostic): string {
  const parts: string[] = [];
  if (d.file) parts.push([d.file, d.line, d.col].filter((p) => p !== undefined).join(':'));
  if (d.host) parts.push(`host ${d.host}`);
  if (d.step) parts.push(`step "${d.step}"`);
  const prefix = parts.length ? parts.join(', ') + ': ' : '';
  const sev = d.severity === 'warning' ? 'warning: ' : '';
  return `${prefix}${sev}${d.message}${d.hint ? ` (${d.hint})` : ''}`;
}

/** An I/O error on a host or here: message `cannot OP PATH on HOST: WHY (ERRNO)`, errno kept for isNotFound. */
export function ioError(op: string, path: string, host: string, why: string, errno: string): UserError {
  return new UserError({ kind: 'io', message: `cannot ${op} ${path} on ${host}: ${why} (${errno})`, host, errno });
}

/** "No such file or directory" (ENOENT, or ENOTDIR where a path component is a file): the only "absent". */
export function isNotFound(e: unknown): boolean {
  return e instanceof UserError && e.kind === 'io' && (e.diagnostic.errno === 'ENOENT' || e.diagnostic.errno === 'ENOTDIR');
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** Message of anything thrown, for wrapping foreign errors into values. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
