/**
 * Encrypted variables: files encrypted with age (https://age-encryption.org, the `age-encryption`
 * library by age's author), given as `-e @secrets.yaml.age` or under `vars_files:`. They are
 * decrypted in memory only, never written anywhere, with the identities of `--identity-file`, else
 * `$RUNBOOK_AGE_IDENTITY` (a file of identities, or the `AGE-SECRET-KEY-1…` key itself). Every
 * variable such a file sets is a secret (./vars.ts Redactor): redacted in the output, JSON events,
 * journal, plans and diffs.
 *
 * The identity is a setting of the process (one command per process): the CLI sets it once
 * (`useAgeIdentityFile`), the loaders that meet an encrypted file ask for it here.
 */
import { readFileSync } from 'node:fs';
// age-encryption is loaded on first use: importing it costs ~80 ms of start-up that every
// command paid, and only runs with an encrypted file need it (BENCHMARKS.md, the 1-host row)
const age = () => import('age-encryption');
import { UserError, messageOf } from '../errors.js';

const BINARY_HEADER = 'age-encryption.org/';
const ARMOR_HEADER = '-----BEGIN AGE ENCRYPTED FILE-----';

let identityFileOption: string | undefined;
/** Names of the variables decrypted in this process (the loader adds them to `secrets`). */
const decryptedNames = new Set<string>();

/** `--identity-file`, for every decryption from now on in this process. */
export function useAgeIdentityFile(file: string | undefined): void {
  identityFileOption = file;
}

export function encryptedVarNames(): ReadonlySet<string> {
  return decryptedNames;
}

/** Record that these names came from an encrypted file: they are secrets. */
export function markEncryptedNames(names: Iterable<string>): void {
  for (const n of names) decryptedNames.add(n);
}

/** Is this content an age file (binary or ASCII-armored)? */
export function isAgeEncrypted(data: Buffer): boolean {
  const head = data.subarray(0, 64).toString('latin1').trimStart();
  return head.startsWith(BINARY_HEADER) || head.startsWith(ARMOR_HEADER);
}

function usage(message: string, hint?: string): UserError {
  return new UserError({ kind: 'usage', message, ...(hint ? { hint } : {}) });
}

/** The identity lines of an identity file's text (comments and blank lines dropped). */
export function parseIdentities(text: string, from: string): string[] {
  const ids: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!line.startsWith('AGE-SECRET-KEY-')) {
      throw usage(`${from}: not an age identity file (a line is not an AGE-SECRET-KEY-1…)`, 'make one with `age-keygen -o key.txt`; SSH keys and plugins are not supported');
    }
    ids.push(line);
  }
  if (ids.length === 0) throw usage(`${from}: no identity in it (no AGE-SECRET-KEY-1… line)`);
  return ids;
}

/** The identities to decrypt with, and where they come from (for messages); undefined when none is given. */
export function ageIdentities(): { ids: string[]; from: string } | undefined {
  const file = identityFileOption;
  if (file !== undefined) return { ids: parseIdentities(readIdentityFile(file, '--identity-file'), file), from: file };
  const env = process.env.RUNBOOK_AGE_IDENTITY;
  if (env === undefined || env.trim() === '') return undefined;
  if (env.trim().startsWith('AGE-SECRET-KEY-')) return { ids: parseIdentities(env, '$RUNBOOK_AGE_IDENTITY'), from: '$RUNBOOK_AGE_IDENTITY' };
  return { ids: parseIdentities(readIdentityFile(env, '$RUNBOOK_AGE_IDENTITY'), env), from: env };
}

function readIdentityFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw usage(`${what} ${file}: cannot read it: ${messageOf(e)}`);
  }
}

/** Decrypt an age file's content in memory. `file` names it in errors. */
export async function decryptAge(file: string, data: Buffer): Promise<string> {
  const id = ageIdentities();
  if (!id) {
    throw usage(`${file} is encrypted with age, and no identity was given to decrypt it`, 'give --identity-file KEY_FILE, or set RUNBOOK_AGE_IDENTITY to the key file or to the AGE-SECRET-KEY-1… key itself');
  }
  const { Decrypter, armor } = await age();
  const d = new Decrypter();
  for (const i of id.ids) {
    try {
      d.addIdentity(i);
    } catch (e) {
      // never the key itself in the message
      throw usage(`${id.from}: an identity in it is not a valid age key (${messageOf(e).replace(/AGE-SECRET-KEY-\S*/g, 'AGE-SECRET-KEY-…')})`);
    }
  }
  let bytes: Uint8Array = data;
  try {
    if (data.subarray(0, 64).toString('latin1').trimStart().startsWith(ARMOR_HEADER)) bytes = armor.decode(data.toString('latin1'));
  } catch (e) {
    throw usage(`cannot decrypt ${file}: its ASCII armor is damaged (${messageOf(e)})`);
  }
  try {
    return await d.decrypt(bytes, 'text');
  } catch (e) {
    const m = messageOf(e);
    if (/no identity matched/i.test(m)) {
      throw usage(`cannot decrypt ${file}: it was not encrypted for the identity in ${id.from}`, 'use the key of one of its recipients; age-keygen -y KEY prints the recipient of a key');
    }
    throw usage(`cannot decrypt ${file}: the file is damaged or not an age file (${m})`);
  }
}

/** `age1…` recipients from -r values and recipients files (one a line, # comments). */
export function collectRecipients(given: readonly string[], files: readonly string[]): string[] {
  const out = [...given.map((r) => r.trim())];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      throw usage(`--recipients-file ${f}: cannot read it: ${messageOf(e)}`);
    }
    for (const l of text.split('\n').map((x) => x.trim())) if (l && !l.startsWith('#')) out.push(l);
  }
  for (const r of out) {
    if (!r.startsWith('age1')) throw usage(`recipient "${r.slice(0, 20)}${r.length > 20 ? '…' : ''}" is not an age recipient (age1…)`, 'age-keygen -y KEY_FILE prints the recipient of a key; SSH recipients are not supported');
  }
  if (out.length === 0) throw usage('no recipients: give -r age1… or --recipients-file FILE');
  return out;
}

/** Encrypt `data` to the recipients; ASCII-armored when asked (for diffs in git). */
export async function encryptAge(data: Buffer, recipients: readonly string[], armored: boolean): Promise<Buffer> {
  const { Encrypter, armor } = await age();
  const e = new Encrypter();
  for (const r of recipients) {
    try {
      e.addRecipient(r);
    } catch (err) {
      throw usage(`recipient ${r}: ${messageOf(err)}`);
    }
  }
  const out = await e.encrypt(data);
  return armored ? Buffer.from(armor.encode(out)) : Buffer.from(out);
}
