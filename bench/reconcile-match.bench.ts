/**
 * `npm run bench:reconcile-match`: the matching engine alone, in memory, on a labelled synthetic set
 * (bench/reconcile-data.ts). Prints how long matching takes, lines per second, the process's peak
 * RSS, and precision and recall against the labels.
 *
 * Settings (environment): RECONCILE_LINES (default 100000 statement lines; the postings follow from
 * the scenarios, about twice as many), RECONCILE_PER_DAY (scenarios per business day, default 400:
 * a year of a busy account), RECONCILE_SEED (default 1).
 */
import os from 'node:os';
import { matchStatementLines } from '../src/modules/reconciliation/matcher';
import { generateLabelledSet, scoreMatches } from './reconcile-data';

function readNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

function main(): void {
  const lineCount = readNumber('RECONCILE_LINES', 100_000);
  const perDay = readNumber('RECONCILE_PER_DAY', 400);
  const seed = readNumber('RECONCILE_SEED', 1);

  let started = process.hrtime.bigint();
  const set = generateLabelledSet({ seed, lines: lineCount, perBusinessDay: perDay });
  const generatedMs = Number(process.hrtime.bigint() - started) / 1e6;
  const rssBefore = process.memoryUsage().rss;

  started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  const result = matchStatementLines({ lines: set.lines, postings: set.postings });
  const cpu = process.cpuUsage(cpuBefore);
  const matchMs = Number(process.hrtime.bigint() - started) / 1e6;
  const peakRss = process.resourceUsage().maxRSS * 1024;

  const score = scoreMatches(set, result);
  const problems = new Map<string, number>();
  for (const problem of result.problems) problems.set(problem.kind, (problems.get(problem.kind) ?? 0) + 1);
  const rules = new Map<string, number>();
  for (const match of result.matches) rules.set(match.rule, (rules.get(match.rule) ?? 0) + 1);

  const rows: [string, string][] = [
    ['statement lines', String(set.lines.length)],
    ['ledger postings', String(set.postings.length)],
    ['true pairs (labels)', String(set.truth.length)],
    ['generated in', `${generatedMs.toFixed(0)} ms`],
    ['matched in', `${matchMs.toFixed(0)} ms wall, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU (load average ${os.loadavg()[0].toFixed(1)} on ${os.availableParallelism()} cores)`],
    ['lines/s', Math.round(set.lines.length / (matchMs / 1000)).toLocaleString('en-US')],
    ['RSS before matching', mib(rssBefore)],
    ['peak RSS (process)', mib(peakRss)],
    ['automatic matches', `${result.matches.length} (${[...rules].map(([rule, n]) => `${rule} ${n}`).join(', ')})`],
    ['problems', [...problems].map(([kind, n]) => `${kind} ${n}`).join(', ') || 'none'],
    ['precision', `${(score.precision * 100).toFixed(3)} % (${score.wrong.length} wrong, ${score.wrongOnAmbiguous} of them on ambiguous-by-design cases)`],
    ['recall', `${(score.recall * 100).toFixed(2)} % (${score.correct} of ${score.truePairs}; ${(score.decidableRecall * 100).toFixed(2)} % of the pairs findable without guessing)`],
    ['recall per scenario', ''],
  ];
  for (const [scenario, entry] of Object.entries(score.byScenario)) {
    const undecidable = entry.pairs - entry.decidable;
    rows.push([
      `  ${scenario}`,
      `${entry.found} of ${entry.pairs} found` + (undecidable > 0 ? ` (${undecidable} ambiguous by design, ${entry.foundDecidable} of ${entry.decidable} decidable)` : ''),
    ]);
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  process.stdout.write(`Reconciliation matching, in memory (seed ${seed}, ${perDay} scenarios per business day)\n`);
  for (const [label, value] of rows) process.stdout.write(`  ${label.padEnd(width)}  ${value}\n`);
}

main();
