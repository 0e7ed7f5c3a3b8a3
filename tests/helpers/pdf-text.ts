import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** True when poppler-utils' pdftotext and pdfinfo can be run (.ci/run installs them when missing). */
export function popplerAvailable(): boolean {
  try {
    execFileSync('pdftotext', ['-v'], { stdio: 'ignore' });
    execFileSync('pdfinfo', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs the suite when poppler-utils is installed; outside CI its absence skips it with the reason, in CI it fails. */
export function describeWithPoppler(name: string, suite: () => void): void {
  if (popplerAvailable()) {
    describe(name, suite);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('finds pdftotext and pdfinfo', () => {
        throw new Error('pdftotext/pdfinfo are missing: .ci/run must install the Debian package poppler-utils');
      });
    });
  } else {
    describe.skip(`${name} [skipped: pdftotext not found; install the Debian package poppler-utils]`, suite);
  }
}

function withTempPdf<T>(pdf: Buffer, read: (file: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-pdf-'));
  try {
    const file = path.join(dir, 'document.pdf');
    fs.writeFileSync(file, pdf);
    return read(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The text pdftotext -layout extracts, one string per page (pdftotext ends each page with a form feed). */
export function pdfPagesText(pdf: Buffer): string[] {
  const text = withTempPdf(pdf, (file) => execFileSync('pdftotext', ['-layout', '-enc', 'UTF-8', file, '-'], { encoding: 'utf8' }));
  return text.split('\f').slice(0, -1);
}

/** The page count pdfinfo reads from the document's page tree. */
export function pdfPageCount(pdf: Buffer): number {
  const info = withTempPdf(pdf, (file) => execFileSync('pdfinfo', [file], { encoding: 'utf8' }));
  const match = /^Pages:\s+(\d+)$/m.exec(info);
  if (!match) throw new Error(`pdfinfo printed no page count:\n${info}`);
  return Number(match[1]);
}
