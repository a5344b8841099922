/**
 * What evaluating an ssh config touches outside itself: files an `Include` names, the globs that
 * find them, and the commands `Match exec` runs. One `SshConfigIo` lives for one run, so a run's
 * hosts read each file and run each distinct command once (ssh(1) runs them for every connection;
 * one run seeing one answer is the point of a run).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { globSync } from 'tinyglobby';
import { programOf } from './proxy-command.js';

/** A line ssh(1) would refuse, or an Include or Match exec it could not carry out: the evaluation stops. */
export class SshConfigError extends Error {}

export interface SshConfigIo {
  /** a config file's text; undefined when there is no such file (ssh skips it) */
  read(path: string): string | undefined;
  /** the files an absolute glob(3) pattern names, sorted */
  glob(pattern: string): string[];
  /** runs a `Match exec` command through the shell, as ssh does: did it exit 0? */
  exec(command: string): boolean;
}

export interface EvalContext {
  /** the host as given (ssh's host argument: the inventory address) */
  alias: string;
  home: string;
  localUser: string;
  localUid: number;
  io: SshConfigIo;
}

/** ssh has no limit; a run must not hang on a check that never ends */
export const MATCH_EXEC_TIMEOUT_MS = 60_000;

// glob(3) as ssh calls it: `*`, `?` and `[...]`, no braces, no `**`, no dot files unless named
const GLOB = { absolute: true, dot: false, braceExpansion: false, extglob: false, globstar: false, expandDirectories: false, onlyFiles: true, cwd: '/' } as const;

/** The machine's files, globs and shell, each answer kept for the life of this object. */
export function machineSshConfigIo(): SshConfigIo {
  const texts = new Map<string, string | undefined>();
  const globs = new Map<string, string[]>();
  const execs = new Map<string, boolean>();
  return {
    read(path) {
      if (texts.has(path)) return texts.get(path);
      let text: string | undefined;
      try {
        text = readFileSync(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new SshConfigError(`cannot read ${path}, which the config includes: ${(e as Error).message}`);
      }
      texts.set(path, text);
      return text;
    },
    glob(pattern) {
      let files = globs.get(pattern);
      if (!files) {
        files = globSync(pattern.replace(/^\/+/, ''), GLOB).sort();
        globs.set(pattern, files);
      }
      return files;
    },
    exec(command) {
      const known = execs.get(command);
      if (known !== undefined) return known;
      const shell = process.env.SHELL || '/bin/sh';
      // stdin and stdout to /dev/null as ssh does; its stderr is not shown among runbook's output
      const r = spawnSync(shell, ['-c', command], { stdio: ['ignore', 'ignore', 'ignore'], timeout: MATCH_EXEC_TIMEOUT_MS, killSignal: 'SIGKILL' });
      if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw new SshConfigError(`Match exec \`${programOf(command)}\` could not run through ${shell}: ${r.error.message}`);
      if (r.signal) {
        const why = r.error ? `did not finish within ${MATCH_EXEC_TIMEOUT_MS / 1000} s` : `was killed by ${r.signal}`;
        throw new SshConfigError(`Match exec \`${programOf(command)}\` ${why}: runbook cannot tell whether its block applies`);
      }
      const ok = r.status === 0;
      execs.set(command, ok);
      return ok;
    },
  };
}
