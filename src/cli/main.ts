#!/usr/bin/env node
/**
 * The `runbook` command. Each subcommand lives in its own file and registers itself here.
 * User errors print as one clear line; anything else is an internal error and asks for a report.
 */
import { Command, CommanderError } from 'commander';
import { formatDiagnostic, isUserError } from '../errors.js';
import { EXIT, EXIT_HELP } from './exit-codes.js';
import { register as registerValidate } from './validate.js';
import { register as registerPlan } from './plan.js';
import { register as registerApply } from './apply.js';
import { register as registerRollback } from './rollback.js';
import { register as registerResume } from './resume.js';
import { register as registerHistory } from './history.js';
import { register as registerShow } from './show.js';
import { register as registerConnect } from './connect.js';
import { register as registerDemo } from './demo.js';
import { register as registerLab } from './lab.js';
import { register as registerReport } from './report.js';
import { register as registerCrypt } from './crypt.js';
import { register as registerPrune } from './prune.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('runbook')
    .description('Declarative, idempotent runbooks over SSH: validate, plan, apply and roll back.')
    .version('0.1.0')
    .addHelpText('after', '\n' + EXIT_HELP)
    .showHelpAfterError()
    .exitOverride();
  registerValidate(program);
  registerPlan(program);
  registerApply(program);
  registerRollback(program);
  registerResume(program);
  registerHistory(program);
  registerShow(program);
  registerReport(program);
  registerCrypt(program);
  registerConnect(program);
  registerPrune(program);
  registerDemo(program);
  registerLab(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
      return EXIT.invalidInput;
    }
    if (isUserError(e)) {
      process.stderr.write(`runbook: ${formatDiagnostic(e.diagnostic)}\n`);
      return e.kind === 'connect' || e.kind === 'host-key' ? EXIT.unreachableHosts : EXIT.invalidInput;
    }
    process.stderr.write(`runbook: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\nThis is a bug in runbook; please report it with the command you ran.\n`);
    return EXIT.internal;
  }
}

// Run when executed directly (bin), not when imported by tests.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { paceHeap } from './heap.js';
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  paceHeap();
  // `runbook apply ... | head`: the reader went away. The run must still finish (release its locks,
  // roll back on failure, close its journal) and exit with its real code, so output that can no
  // longer be delivered is dropped instead of crashing the process mid-run.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return;
      throw e;
    });
  }
  // main() turns every error into an exit code: it never rejects
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
