import fs from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

/**
 * Headless Chromium for the dashboard tests: Debian's `chromium` package (CI installs it), driven by
 * playwright-core through its executable path; no browser is downloaded.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Where the browser tests leave their screenshots (CI keeps the folder as its artifacts). */
export const TEST_ARTIFACTS_DIR = path.resolve(process.env.TEST_ARTIFACTS_DIR || path.join(__dirname, '../../test-artifacts'));

/** Runs the suite when Chromium is installed; outside CI a missing browser skips it with the reason, in CI it fails. */
export function describeWithChromium(name: string, suite: () => void): void {
  if (fs.existsSync(CHROMIUM_PATH)) {
    describe(name, suite);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('finds Chromium', () => {
        throw new Error(`${CHROMIUM_PATH} is missing: .ci/run installs Debian's chromium package`);
      });
    });
  } else {
    describe.skip(`${name} [skipped: ${CHROMIUM_PATH} not found; apt-get install chromium, or set CHROMIUM_PATH]`, suite);
  }
}

/**
 * The flags keep Chromium off the network beyond the page under test: this machine refuses outside
 * connections, and the background services' attempts would only slow the start and fill the log.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** What a page said that a test should see: script errors, failed requests, and Content-Security-Policy refusals. */
export interface PageProblems {
  errors: string[];
  policyViolations: string[];
}

export function watchPage(page: Page): PageProblems {
  const problems: PageProblems = { errors: [], policyViolations: [] };
  page.on('pageerror', (error) => problems.errors.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (/Content Security Policy|Refused to (load|execute|apply|connect|frame)/i.test(text)) problems.policyViolations.push(text);
    else if (message.type() === 'error' && !/the server responded with a status of 40[13]/.test(text)) problems.errors.push(`console: ${text}`);
  });
  return problems;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * axe-core's WCAG 2.1 AA rules on the page as it is now; the serious and critical violations. The
 * script goes in through the DevTools protocol, which the page's Content-Security-Policy does not
 * govern: the policy stays as strict as users get it.
 */
export async function seriousAccessibilityViolations(page: Page): Promise<AxeViolation[]> {
  const source = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    // Runs in the page: its globals, typed here by hand (the tests' TypeScript has no DOM library).
    const { axe, document } = globalThis as unknown as {
      axe: { run(context: unknown, options: unknown): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> };
      document: unknown;
    };
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }, resultTypes: ['violations'] });
    return result.violations.map((violation) => ({ id: violation.id, impact: violation.impact, help: violation.help, targets: violation.nodes.map((node) => node.target.join(' ')) }));
  });
  return violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
}

/** Saves a full-page screenshot under TEST_ARTIFACTS_DIR/<folder>/<name>.png and returns its path. */
export async function saveScreenshot(page: Page, folder: string, name: string): Promise<string> {
  const directory = path.join(TEST_ARTIFACTS_DIR, folder);
  fs.mkdirSync(directory, { recursive: true });
  const file = path.join(directory, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
