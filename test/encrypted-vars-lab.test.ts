/**
 * Encrypted variables against a real OpenSSH host (the lab): `vars_files:` and `-e @file.age`
 * encrypted with age (one file by the real age tool when it is installed), decrypted in memory
 * with --identity-file or $RUNBOOK_AGE_IDENTITY. The host gets the real values; the terminal, the
 * JSON events, the saved plan, the --diff output and the journal show *** only, and no file the
 * run leaves on this machine holds a decrypted value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { applyCmd } from '../src/cli/apply.js';
import { planCmd } from '../src/cli/plan.js';
import { encryptCmd } from '../src/cli/crypt.js';
import { cmdOptions, dir, inv, lab, rbFile, stateDir, useLab } from './support/lab.js';

const haveAge = spawnSync('sh', ['-c', 'command -v age']).status === 0;
const DB_PASSWORD = 'CANARY-db-7d2e91';
const API_TOKEN = 'CANARY-api-44b0c3';
let keyFile: string;

const RUNBOOK = `apiVersion: runbook/v1
name: encrypted-vars
hosts: all
vars_files: [secrets/db.yaml.age]
steps:
  - name: App config
    copy: { dest: /etc/kubernetes/enc/app.conf, content: "user={{ db.user }}\\npassword={{ db.password }}\\ntoken={{ api_token }}\\n" }
  - name: Echo the token
    shell: { script: 'echo "token is $1"', args: ["{{ api_token }}"], read_only: true }
    register: echoed
  - name: The token arrived whole
    assert: { that: "echoed.stdout.contains('token is ' + api_token)" }
`;

/** Every file under `root` whose content holds one of the canaries. */
function filesWithCanary(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        const text = readFileSync(p, 'latin1');
        if (text.includes(DB_PASSWORD) || text.includes(API_TOKEN)) out.push(p);
      }
    }
  };
  walk(root);
  return out;
}

const skip = useLab({
  start: { count: 1, firstAddress: '127.1.233.1', namePrefix: 'ev' },
  tmp: 'runbook-enc-lab-',
  runbook: { file: 'enc.yaml', text: RUNBOOK },
  setup: async () => {
    const key = await generateIdentity();
    keyFile = join(dir, 'key.txt');
    writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    const recipient = await identityToRecipient(key);
    mkdirSync(join(dir, 'secrets'));
    // the plaintext exists only for the encryption step of this test, then is removed
    const plain = join(dir, 'secrets', 'db.yaml');
    writeFileSync(plain, `db:\n  user: app-canary-user\n  password: ${DB_PASSWORD}\n`);
    assert.equal(await encryptCmd({ file: plain, recipient: [recipient] }), 0);
    writeFileSync(plain + '2', `api_token: ${API_TOKEN}\n`);
    if (haveAge) {
      const r = spawnSync('age', ['-r', recipient, '-a', '-o', join(dir, 'extra.yaml.age'), plain + '2'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    } else {
      assert.equal(await encryptCmd({ file: plain + '2', recipient: [recipient], out: join(dir, 'extra.yaml.age'), armor: true }), 0);
    }
    rmSync(plain);
    rmSync(plain + '2');
  },
});

const opts = (extra: Record<string, unknown> = {}) => cmdOptions({ extraVars: [`@${join(dir, 'extra.yaml.age')}`], identityFile: keyFile, ...extra });

test('plan --diff, apply --json: the host gets the decrypted values, nothing printed or saved shows them', { skip }, async () => {
  const p = opts({ diff: true, out: join(dir, 'plan.json') });
  assert.equal((await planCmd(p)).exitCode, 2, p.stdout.text + p.stderr.text);
  assert.match(p.stdout.text, /^\s*\+password=\*\*\*$/m);
  assert.match(p.stdout.text, /^\s*\+token=\*\*\*$/m);
  assert.match(p.stdout.text, /^\s*\+user=\*\*\*$/m, 'every value of an encrypted mapping is a secret');
  const a = opts({ json: true });
  const r = await applyCmd(a);
  assert.equal(r.exitCode, 0, a.stdout.text + a.stderr.text);
  assert.equal(readFileSync(lab.hostPath(lab.hosts[0]!, '/etc/kubernetes/enc/app.conf'), 'utf8'), `user=app-canary-user\npassword=${DB_PASSWORD}\ntoken=${API_TOKEN}\n`);
  for (const [what, text] of [['plan output', p.stdout.text + p.stderr.text], ['apply events', a.stdout.text + a.stderr.text]]) {
    assert.ok(!text!.includes(DB_PASSWORD) && !text!.includes(API_TOKEN), `${what} shows a secret`);
  }
  assert.match(a.stdout.text, /"commands":\["sh -c 'echo \\"token is \$1\\"' sh \*\*\*"\]/);
  assert.deepEqual(filesWithCanary(dir), [], 'no decrypted value in any file on this machine (journal, plan, state)');
});

test('the CLI: $RUNBOOK_AGE_IDENTITY decrypts; without an identity, validate and plan name the file and where it is used', { skip }, () => {
  const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.RUNBOOK_AGE_IDENTITY;
  const extra = `@${join(dir, 'extra.yaml.age')}`;
  const ok = spawnSync(process.execPath, [cli, 'validate', rbFile, '-e', extra], { env: { ...env, RUNBOOK_AGE_IDENTITY: keyFile }, encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  const plan = spawnSync(process.execPath, [cli, 'plan', rbFile, '-i', inv, '-e', extra, '--state-dir', stateDir], { env: { ...env, RUNBOOK_AGE_IDENTITY: keyFile }, encoding: 'utf8' });
  assert.equal(plan.status, 0, plan.stdout + plan.stderr);
  assert.ok(!(plan.stdout + plan.stderr).includes(API_TOKEN));
  const none = spawnSync(process.execPath, [cli, 'validate', rbFile], { env, encoding: 'utf8' });
  assert.notEqual(none.status, 0);
  assert.match(none.stdout + none.stderr, /enc\.yaml:4:14: .*vars_files: .*secrets\/db\.yaml\.age is encrypted with age, and no identity was given/);
  const wrongKey = join(dir, 'wrong.txt');
  writeFileSync(wrongKey, 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n');
  const bad = spawnSync(process.execPath, [cli, 'plan', rbFile, '-i', inv, '-e', extra, '--identity-file', wrongKey], { env, encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /wrong\.txt: an identity in it is not a valid age key/);
  assert.ok(!bad.stderr.includes('QQQQ'), 'the key is never printed');
  assert.ok(!bad.stderr.includes('    at '), 'no stack trace');
});
