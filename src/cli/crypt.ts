/**
 * `runbook encrypt FILE -r age1…` / `runbook decrypt FILE.age`: age files for `-e @file.age` and
 * `vars_files:` (src/runbook/encrypted.ts), interchangeable with the age tool's. Encrypting writes
 * FILE.age (0600, never over an existing file); decrypting prints to stdout unless -o is given
 * (the only way runbook ever writes decrypted content to disk: when asked to).
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { load as loadYamlValue } from 'js-yaml';
import { messageOf, userError } from '../errors.js';
import { collectRecipients, decryptAge, encryptAge, isAgeEncrypted, useAgeIdentityFile } from '../runbook/encrypted.js';
import { EXIT } from './exit-codes.js';

export interface EncryptOptions {
  file: string;
  recipient?: string[];
  recipientsFile?: string[];
  out?: string;
  armor?: boolean;
  /** check the file is a YAML mapping first (default true: it is meant for -e @ and vars_files) */
  yamlCheck?: boolean;
}

async function readInput(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw userError('io', `cannot read ${file}: ${messageOf(e)}`);
  }
}

async function writeNew(file: string, data: Buffer | string, what: string): Promise<void> {
  try {
    await writeFile(file, data, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    const exists = (e as NodeJS.ErrnoException).code === 'EEXIST';
    throw userError('io', exists ? `${file} already exists; not overwriting it` : `cannot write ${what} ${file}: ${messageOf(e)}`, exists ? { hint: 'remove it first, or give another -o' } : {});
  }
}

export async function encryptCmd(o: EncryptOptions): Promise<number> {
  const recipients = collectRecipients(o.recipient ?? [], o.recipientsFile ?? []);
  const data = await readInput(o.file);
  if (isAgeEncrypted(data)) throw userError('usage', `${o.file} is already encrypted with age`);
  if (o.yamlCheck !== false) {
    let v: unknown;
    try {
      v = loadYamlValue(data.toString('utf8'));
    } catch (e) {
      throw userError('usage', `${o.file} is not valid YAML: ${messageOf(e).split('\n')[0]}`, { hint: 'encrypted variables are a YAML mapping; --no-yaml-check encrypts any file' });
    }
    if (v !== null && v !== undefined && (typeof v !== 'object' || Array.isArray(v))) throw userError('usage', `${o.file} must hold a mapping of variable names to values`, { hint: '--no-yaml-check encrypts any file' });
  }
  await writeNew(o.out ?? `${o.file}.age`, await encryptAge(data, recipients, o.armor === true), 'the encrypted file');
  return EXIT.ok;
}

export interface DecryptOptions {
  file: string;
  identityFile?: string;
  out?: string;
  stdout?: NodeJS.WritableStream;
}

export async function decryptCmd(o: DecryptOptions): Promise<number> {
  useAgeIdentityFile(o.identityFile);
  const data = await readInput(o.file);
  if (!isAgeEncrypted(data)) throw userError('usage', `${o.file} is not an age file`);
  const text = await decryptAge(o.file, data);
  if (o.out) await writeNew(o.out, text, 'the decrypted file');
  else (o.stdout ?? process.stdout).write(text);
  return EXIT.ok;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function register(program: Command): void {
  program
    .command('encrypt')
    .description('encrypt a YAML file of variables with age, for -e @FILE.age and vars_files (writes FILE.age)')
    .argument('<file>', 'the plaintext file')
    .option('-r, --recipient <age1…>', 'encrypt to this age recipient (repeatable)', collect)
    .option('-R, --recipients-file <file>', 'encrypt to the recipients listed in this file (repeatable)', collect)
    .option('-o, --out <file>', 'where to write (default FILE.age; never overwritten)')
    .option('-a, --armor', 'ASCII-armored output (PEM-like text)')
    .option('--no-yaml-check', 'encrypt any file, not only a YAML mapping')
    .action(async (file: string, opts: Omit<EncryptOptions, 'file'>) => {
      process.exitCode = await encryptCmd({ ...opts, file });
    });
  program
    .command('decrypt')
    .description('decrypt an age file to stdout (or -o FILE) with --identity-file or $RUNBOOK_AGE_IDENTITY')
    .argument('<file>', 'the age file')
    .option('--identity-file <file>', 'age identity (key) file (default $RUNBOOK_AGE_IDENTITY)')
    .option('-o, --out <file>', 'write the plaintext to this new file (0600) instead of stdout')
    .action(async (file: string, opts: Omit<DecryptOptions, 'file'>) => {
      process.exitCode = await decryptCmd({ ...opts, file });
    });
}
