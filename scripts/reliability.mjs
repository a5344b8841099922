#!/usr/bin/env node
// Regenerates RELIABILITY.md: runs the fault-injection, security and fuzz tests (compiled in dist/)
// with the TAP reporter, collects the JSON lines they write to $RELIABILITY_OUT (what was
// injected or tried, how many times, how many survived, bytes lost) and writes the table.
// Fault cases: runner SIGKILL then rollback ID (rounds), runner SIGKILL then resume ID (5 × rounds),
// the operator's state dir full (rounds), a timeout during a large copy (rounds / 4), host faults.
// Usage: npm run reliability            (builds first)
//        node scripts/reliability.mjs [--rounds N] [--seed N] [--fuzz-runs N] [--out FILE]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, hostname, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const rounds = opt('rounds', process.env.FAULT_ROUNDS ?? '20');
const seed = opt('seed', process.env.FAULT_SEED ?? '7');
const fuzzRuns = opt('fuzz-runs', process.env.FUZZ_RUNS ?? '10000');
const outFile = opt('out', 'RELIABILITY.md');
const files = ['dist/test/faults.test.js', 'dist/test/security.test.js', 'dist/test/loader-fuzz.test.js', 'dist/test/expression-fuzz.test.js'];
for (const f of files) if (!existsSync(f)) throw new Error(`${f} missing: run \`npx tsc -p .\` (or \`npm run reliability\`) first`);

const work = mkdtempSync(join(tmpdir(), 'runbook-reliability-'));
const records = join(work, 'records.jsonl');
const started = Date.now();
const r = spawnSync(process.execPath, ['--enable-source-maps', '--test', '--test-concurrency=1', '--test-reporter=tap', ...files], {
  encoding: 'utf8',
  maxBuffer: 256 * 1024 * 1024,
  env: { ...process.env, RELIABILITY_OUT: records, FAULT_ROUNDS: rounds, FAULT_SEED: seed, FUZZ_RUNS: fuzzRuns },
});
const seconds = Math.round((Date.now() - started) / 1000);
const tap = r.stdout ?? '';
const recs = existsSync(records) ? readFileSync(records, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
rmSync(work, { recursive: true, force: true });

if (r.error) {
  // the tests never ran: keep the last RELIABILITY.md rather than write an empty table
  process.stderr.write(`cannot run the tests: ${r.error.message}\n`);
  process.exit(1);
}

// every test's verdict from TAP; a file-level entry (ends in .js) counts only when it failed (it did not load)
const results = [];
for (const line of tap.split('\n')) {
  const m = /^\s*(not )?ok \d+ - (.*?)(?: # (SKIP|TODO).*)?$/.exec(line);
  if (!m || (/\.js$/.test(m[2]) && !m[1])) continue;
  results.push({ name: m[2], ok: !m[1], skipped: !!m[3] });
}
const failed = results.filter((t) => !t.ok);
const skipped = results.filter((t) => t.skipped);

const esc = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
// fault cases say how many hosts were reported rolled back (or ok) while their tree said otherwise
const wrongOf = (x) => (typeof x.wrongRolledBack === 'number' ? x.wrongRolledBack : 0);
const rows = recs.map((x) => `| ${x.suite} | ${esc(x.case)} | ${x.tries} | ${x.survived} | ${x.bytesLost} | ${x.suite === 'faults' ? wrongOf(x) : '—'} | ${esc(x.detail ?? '')} |`);
for (const t of failed) rows.push(`| FAILED | ${esc(t.name)} | — | 0 | — | — | see \`node scripts/reliability.mjs\` output |`);
const total = recs.reduce((a, x) => ({ tries: a.tries + x.tries, survived: a.survived + x.survived, lost: a.lost + x.bytesLost, wrong: a.wrong + wrongOf(x) }), { tries: 0, survived: 0, lost: 0, wrong: 0 });
const faults = recs.filter((x) => x.suite === 'faults').reduce((n, x) => n + x.tries, 0);
let commit = '';
try {
  commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
} catch {
  /* not a git checkout */
}

const md = `# Reliability

Regenerate with \`npm run reliability\` (builds, then \`node scripts/reliability.mjs\`). It runs
test/faults.test.ts, test/security.test.ts, test/loader-fuzz.test.ts and test/expression-fuzz.test.ts
(real OpenSSH hosts on loopback from the lab, real sudo, fast-check) and writes this file.
The same tests run in every CI run (\`npm test\`) with ${'`FAULT_ROUNDS=4`'} and the same fuzz counts.

- **date:** ${new Date().toISOString()}
- **machine:** ${hostname()}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, Node ${process.version}
- **commit:** ${commit || 'unknown'}; **seed:** ${seed}; **runner kills:** ${rounds}; **fuzz runs per property:** ${fuzzRuns}
- **result:** ${results.length - failed.length - skipped.length} of ${results.length} tests passed${skipped.length ? `, ${skipped.length} skipped` : ''}${failed.length ? `, **${failed.length} FAILED**` : ''}; ${total.survived} of ${total.tries} injections and attempts survived (${faults} injected faults); **bytes lost: ${total.lost}** (target 0); **hosts wrongly reported rolled back: ${total.wrong}** (target 0); ${seconds} s

"Survived" means: after the fault, every host was either completed (the run's intended tree) or
restored byte-identical (sha256 of every file under the backed-up paths), and the journal said
which; for attacks, that the attack was refused or had no effect; for fuzzing, that no exception
escaped and every diagnostic had a line and column. "Bytes lost" counts the bytes of files that
ended neither in their original nor in their completed state. "Wrongly rolled back" counts hosts
reported \`rolled-back\` (or aborted and rolled back, or ok) whose tree was not original (or not
completed): the tool must never say "rolled back" after losing data.

| suite | what was injected or tried | times | survived | bytes lost | wrongly rolled back | detail |
|---|---|---|---|---|---|---|
${rows.join('\n')}
| **total** | | **${total.tries}** | **${total.survived}** | **${total.lost}** | **${total.wrong}** | |
`;
writeFileSync(outFile, md);
process.stdout.write(`${outFile}: ${total.survived}/${total.tries} survived (${faults} injected faults), ${total.lost} bytes lost, ${total.wrong} hosts wrongly reported rolled back, ${failed.length} failed test(s), ${seconds} s\n`);
if (r.status !== 0 || failed.length) {
  process.stderr.write(tap.split('\n').filter((l) => /not ok|Error|assert/i.test(l)).slice(0, 40).join('\n') + '\n');
  process.exit(1);
}
