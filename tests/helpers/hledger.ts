import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';

/** Debian's hledger, which the journal export tests read the export with. */
function hledgerAvailable(): boolean {
  return spawnSync('hledger', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Runs the suite when hledger is installed; outside CI its absence skips it with the reason, in CI it fails. */
export function describeWithHledger(name: string, suite: () => void): void {
  if (hledgerAvailable()) {
    describe(name, suite);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('finds hledger', () => {
        throw new Error('hledger is missing: .ci/run must install the Debian package hledger');
      });
    });
  } else {
    describe.skip(`${name} [skipped: hledger not found; install the Debian package hledger]`, suite);
  }
}

/** Runs hledger on a journal text (written to a temporary file); hledger refuses a journal it cannot read or balance. */
export function runHledger(journal: string, args: readonly string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-hledger-'));
  try {
    const file = path.join(dir, 'export.journal');
    fs.writeFileSync(file, journal);
    return execFileSync('hledger', ['-f', file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `hledger balance --flat -O csv`: each account's balance as hledger prints it ("12.34 USD"). */
export function hledgerBalances(journal: string): Map<string, string> {
  const rows = parse(runHledger(journal, ['balance', '--flat', '--empty', '--no-total', '-O', 'csv']), { columns: true }) as { account: string; balance: string }[];
  return new Map(rows.map((row) => [row.account, row.balance]));
}
