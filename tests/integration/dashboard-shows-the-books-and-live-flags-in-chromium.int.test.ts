import type { Browser, Page } from 'playwright-core';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import type { Config } from '../../src/config';
import { StatementFormat } from '../../src/modules/reconciliation/importers';
import { startServer, type RunningServer } from '../../src/server/app';
import { createDemoTenant } from '../../src/services/demo-tenant';
import {
  AuthorizePaymentDocument,
  CapturePaymentDocument,
  CreateApiKeyDocument,
  CreateCustomerDocument,
  CreateInvoiceDocument,
  CreateOAuthClientDocument,
  FinalizeInvoiceDocument, ImportBankStatementDocument, PostJournalEntryDocument,
  RecordInvoicePaymentDocument,
  RefundPaymentDocument,
  RevokeApiKeyDocument,
} from '../generated/graphql';
import { describeWithChromium, launchChromium, type PageProblems, saveScreenshot, seriousAccessibilityViolations, watchPage } from '../helpers/browser';
import { freePort } from '../helpers/child-server';
import { buildDashboard } from '../helpers/dashboard-build';
import { GraphQLClient } from '../helpers/graphql-client';
import { USD_LINES } from '../helpers/invoice-fixtures';
import { createTestDatabase, describeEachDatabase, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import { bankAccountAwaitingTwoDiscrepancies, createBankAccount, describeWithStatementFixtures, fixtureBytes, TWO_DISCREPANCIES_MT940 } from '../helpers/statement-fixtures';

/**
 * The dashboard as an auditor uses it, in Debian's Chromium: sign in with the demo tenant's key, read
 * balances and the trial balance (the API's figures, to the cent), watch the two flags of a statement
 * import arrive live, acknowledge and resolve them, lose the server and get the flag raised meanwhile
 * after it comes back, and sign out. Every view is checked by axe-core and photographed (TEST_ARTIFACTS_DIR/dashboard).
 */

/** A real ING statement (shared fixtures) whose balances do not add up: one STATEMENT_BALANCE_MISMATCH. */
const ING = 'mt940/wolph__jejik_ing.sta';

const VIEWS = ['overview', 'accounts', 'trial-balance', 'journal', 'payments', 'invoices', 'bank-accounts', 'flags'] as const;
const TABLET = { width: 768, height: 1024 };
const WAIT_MS = 15_000;

/** The dashboard's rendering of an API amount: thousands grouped, a true minus sign, the currency after. */
function shown(money: { amount: string; currency: string }): string {
  const negative = money.amount.startsWith('-');
  const [whole, fraction] = money.amount.replace(/^-/, '').split('.');
  return `${negative ? '\u2212' : ''}${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${fraction} ${money.currency}`;
}

describeWithStatementFixtures('the dashboard in a browser', () => {
  describeWithChromium('the dashboard in headless Chromium', () => {
    describeEachDatabase('an auditor signs in, reads the books and works the live flag feed', (kind) => {
      let database: TestDatabase;
      let runtime: Runtime;
      let config: Config;
      let server: RunningServer;
      let port: number;
      let browser: Browser;
      let page: Page;
      let problems: PageProblems;
      let demoKey: string;
      let demoTenantId: string;
      let invoiceNumber: string;
      let api: GraphQLClient;
      const log = createLogger(process.env.TEST_LOG_LEVEL || 'silent');

      const baseUrl = () => `http://127.0.0.1:${port}`;
      const start = async () => {
        server = await startServer({ services: runtime.services, log, config }, port, '127.0.0.1');
      };

      beforeAll(async () => {
        const { directory } = buildDashboard();
        database = await createTestDatabase(kind);
        // Open WebSockets re-check their credential every half second, so that a revoke ends the session at once.
        config = testRuntimeConfig(database.url, { env: { DASHBOARD_DIR: directory, WS_CREDENTIAL_CHECK_INTERVAL_MS: '500' } });
        runtime = await bootstrap(config, { log });
        port = await freePort();
        await start();
        const demo = await createDemoTenant(runtime.services, 'Demo');
        demoKey = demo.apiKey;
        demoTenantId = demo.tenant.id;
        api = new GraphQLClient(server.url, demoKey);
        browser = await launchChromium();
      }, 120_000);

      afterAll(async () => {
        await browser?.close();
        await server?.close();
        await runtime?.close();
        await database?.drop();
      });

      /** GraphQL through the API, as the test's own check of what the page shows. */
      async function query<T>(document: string, variables: Record<string, unknown> = {}): Promise<T> {
        const response = await fetch(`${baseUrl()}/graphql`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${demoKey}` },
          body: JSON.stringify({ query: document, variables }),
        });
        const body = (await response.json()) as { data?: T; errors?: unknown };
        if (!body.data || body.errors) throw new Error(`query failed: ${JSON.stringify(body.errors)}`);
        return body.data;
      }

      async function open(view: (typeof VIEWS)[number]): Promise<void> {
        // A hash change, not a reload: the credential lives in the page's memory.
        await page.evaluate((hash) => {
          (globalThis as unknown as { location: { hash: string } }).location.hash = hash;
        }, `#/${view}`);
        await page.locator('main h1').filter({ hasNotText: /^$/ }).first().waitFor();
        await page.waitForFunction(() => !(globalThis as unknown as { document: { querySelector(s: string): unknown } }).document.querySelector('[role=status]:not([data-testid])'), undefined, { timeout: WAIT_MS });
      }

      async function flagCard(kindOfFlag: string) {
        const card = page.locator(`[data-flag-kind="${kindOfFlag}"]`);
        await card.waitFor({ timeout: WAIT_MS });
        return card;
      }

      it('seeds the books through the API: entries, a payment captured and part refunded, an invoice part paid', async () => {
        const cash = await query<{ accounts: { edges: { node: { id: string; code: string } }[] } }>('{ accounts(first: 50) { edges { node { id code } } } }');
        const accountId = (code: string) => cash.accounts.edges.find((edge) => edge.node.code === code)!.node.id;
        for (const [description, amount] of [
          ['Opening capital', '10000.00'],
          ['Counter sales, Monday', '1250.75'],
        ] as const) {
          await api.ok(PostJournalEntryDocument, {
            input: {
              description,
              lines: [
                { accountId: accountId('SYS-1000-USD'), direction: 'DEBIT', amount, currency: 'USD' },
                { accountId: accountId('SYS-4000-USD'), direction: 'CREDIT', amount, currency: 'USD' },
              ],
            },
          });
        }
        const { authorizePayment } = await api.ok(AuthorizePaymentDocument, { input: { amount: '80.00', currency: 'USD', paymentToken: 'tok_approve' } });
        await api.ok(CapturePaymentDocument, { input: { paymentId: authorizePayment.payment.id } });
        await api.ok(RefundPaymentDocument, { input: { paymentId: authorizePayment.payment.id, amount: '15.25' } });

        const { createCustomer } = await api.ok(CreateCustomerDocument, { input: { name: 'Acme Trading GmbH' } });
        const { createInvoice } = await api.ok(CreateInvoiceDocument, { input: { customerId: createCustomer.customer.id, currency: 'USD', lines: USD_LINES } });
        const { finalizeInvoice } = await api.ok(FinalizeInvoiceDocument, { input: { invoiceId: createInvoice.invoice.id } });
        invoiceNumber = finalizeInvoice.invoice.number!;
        await api.ok(RecordInvoicePaymentDocument, { input: { invoiceId: createInvoice.invoice.id, amount: '100.00', method: 'BANK_TRANSFER', reference: 'ACME-0001' } });
      });

      it('serves the page under its strict policy and signs in with the demo key; the header shows the tenant and the scopes', async () => {
        page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        problems = watchPage(page);
        const response = await page.goto(`${baseUrl()}/dashboard`);
        expect(response?.status()).toBe(200);
        expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
        expect(response?.headers()['content-security-policy']).not.toContain('unsafe-inline');
        await saveScreenshot(page, 'dashboard', 'sign-in');
        expect(await seriousAccessibilityViolations(page)).toEqual([]);

        // A wrong key first: refused with the API's code, and nothing else happens.
        await page.getByLabel('API key', { exact: true }).fill('rk_not_a_real_key');
        await page.getByRole('button', { name: 'Sign in' }).click();
        await expect(page.getByRole('alert').textContent()).resolves.toContain('UNAUTHENTICATED');

        await page.getByLabel('API key', { exact: true }).fill(demoKey);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('navigation', { name: 'Views' }).waitFor();
        const { me } = await query<{ me: { scopes: string[]; tenant: { name: string } } }>('{ me { scopes tenant { name } } }');
        await expect(page.locator('.tenant').textContent()).resolves.toBe(me.tenant.name);
        await page.getByText(`${me.scopes.length} scope`).click();
        const scopes = await page.getByRole('list', { name: 'Scopes of this credential' }).locator('li').allTextContents();
        expect(scopes).toEqual(me.scopes.map((scope) => scope.toLowerCase().replace(/_([a-z]+)$/, ':$1')));
        await page.getByText(`${me.scopes.length} scope`).click();
        await page.getByTestId('feed-status').getByText('Live').waitFor({ timeout: WAIT_MS });
      });

      it('shows every account’s posted, pending and available balance as the API has them, and draws its history', async () => {
        await open('accounts');
        const { accounts } = await query<{ accounts: { edges: { node: { code: string; balances: Record<'posted' | 'pending' | 'available', { net: { amount: string; currency: string } }> } }[] } }>(
          '{ accounts(first: 25) { edges { node { code balances { posted { net { amount currency } } pending { net { amount currency } } available { net { amount currency } } } } } } }',
        );
        expect(accounts.edges.length).toBeGreaterThan(5);
        for (const { node } of accounts.edges) {
          const row = page.locator(`[data-testid=accounts-table] tr[data-account-code="${node.code}"]`);
          for (const balance of ['posted', 'pending', 'available'] as const) {
            await expect(row.locator(`[data-balance=${balance}]`).textContent()).resolves.toBe(shown(node.balances[balance].net));
          }
        }
        // Known figures: cash 10,000.00 + 1,250.75 of entries + 100.00 paid on the invoice; revenue those
        // entries, the 80.00 captured and the invoice's 213.51 net; receivable what the invoice still owes.
        await expect(page.locator('tr[data-account-code="SYS-1000-USD"] [data-balance=posted]').textContent()).resolves.toBe('11,350.75 USD');
        await expect(page.locator('tr[data-account-code="SYS-4000-USD"] [data-balance=posted]').textContent()).resolves.toBe('11,544.26 USD');
        await expect(page.locator('tr[data-account-code="SYS-1200-USD"] [data-balance=posted]').textContent()).resolves.toBe('152.55 USD');

        await page.getByRole('button', { name: 'Chart of Cash at bank (USD)' }).click();
        await page.locator('.chart canvas').first().waitFor({ timeout: WAIT_MS });
        await expect(page.getByText('Posted balance from 0.00 to 11,350.75 USD').count()).resolves.toBe(1);
        await saveScreenshot(page, 'dashboard', 'accounts');
        expect(await seriousAccessibilityViolations(page)).toEqual([]);
      });

      it('shows the trial balance’s totals and lines as the API computes them', async () => {
        await open('trial-balance');
        const { trialBalance } = await query<{
          trialBalance: { balanced: boolean; totals: { currency: string; debits: { amount: string; currency: string }; credits: { amount: string; currency: string } }[]; lines: { edges: { node: { account: { code: string }; debit: { amount: string; currency: string }; credit: { amount: string; currency: string } } }[] } };
        }>('{ trialBalance { balanced totals { currency debits { amount currency } credits { amount currency } } lines(first: 100) { edges { node { account { code } debit { amount currency } credit { amount currency } } } } } }');
        expect(trialBalance.balanced).toBe(true);
        await expect(page.getByTestId('trial-balance-verdict').textContent()).resolves.toBe('debits equal credits');
        for (const total of trialBalance.totals) {
          const row = page.locator(`[data-testid=trial-balance-totals] tr[data-currency="${total.currency}"]`);
          await expect(row.locator('[data-column=debits]').textContent()).resolves.toBe(shown(total.debits));
          await expect(row.locator('[data-column=credits]').textContent()).resolves.toBe(shown(total.credits));
        }
        expect(trialBalance.lines.edges.length).toBeGreaterThan(0);
        for (const { node } of trialBalance.lines.edges) {
          const row = page.locator(`[data-testid=trial-balance-lines] tr[data-account-code="${node.account.code}"]`);
          await expect(row.locator('[data-column=debit]').textContent()).resolves.toBe(shown(node.debit));
          await expect(row.locator('[data-column=credit]').textContent()).resolves.toBe(shown(node.credit));
        }
        await expect(page.locator('[data-testid=trial-balance-totals] tr[data-currency=USD] [data-column=debits]').textContent()).resolves.toBe('11,583.30 USD');
        await saveScreenshot(page, 'dashboard', 'trial-balance');
        expect(await seriousAccessibilityViolations(page)).toEqual([]);
      });

      it('works with the keyboard alone: the skip link, the menu, and a button of the view', async () => {
        await open('trial-balance');
        // Focus moves in an effect after the view renders: wait for it rather than read it at once.
        const focusLandsOnContent = () =>
          page.waitForFunction(() => (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement?.id === 'main', undefined, { timeout: WAIT_MS });
        const focused = () => page.evaluate(() => {
          const { document } = globalThis as unknown as { document: { activeElement: { textContent: string | null; id: string } | null } };
          return { text: document.activeElement?.textContent?.trim() ?? '', id: document.activeElement?.id ?? '' };
        });
        await page.locator('body').focus();
        await page.keyboard.press('Tab');
        expect((await focused()).text).toBe('Skip to content');
        await page.keyboard.press('Enter');
        await focusLandsOnContent();
        await expect(page.locator('main h1').textContent()).resolves.toBe('Trial balance');

        // Shift+Tab walks back from the content into the menu; a bounded walk finds its Accounts link.
        for (let presses = 0; (await focused()).text !== 'Accounts'; presses += 1) {
          expect(presses).toBeLessThan(20);
          await page.keyboard.press('Shift+Tab');
        }
        await page.keyboard.press('Enter');
        await page.locator('main h1', { hasText: 'Accounts' }).waitFor();
        await focusLandsOnContent();
        for (let presses = 0; !(await focused()).text.startsWith('Chart'); presses += 1) {
          expect(presses).toBeLessThan(20);
          await page.keyboard.press('Tab');
        }
        await page.keyboard.press('Enter');
        await page.locator('.chart canvas').first().waitFor({ timeout: WAIT_MS });
      });

      it('lists journal entries by status, the payment’s timeline, and the other views without an accessibility fault', async () => {
        await open('journal');
        await page.getByTestId('journal-entries').locator('li').first().waitFor();
        await expect(page.getByTestId('journal-entries').getByText('Counter sales, Monday', { exact: true }).count()).resolves.toBe(1);
        await page.getByLabel('Status').selectOption('VOIDED');
        await page.getByText('No journal entry matches.').waitFor({ timeout: WAIT_MS });
        await page.getByLabel('Status').selectOption('');
        await page.getByTestId('journal-entries').getByText('Counter sales, Monday', { exact: true }).waitFor({ timeout: WAIT_MS });
        await saveScreenshot(page, 'dashboard', 'journal');
        expect(await seriousAccessibilityViolations(page)).toEqual([]);

        await open('payments');
        await page.getByRole('button', { name: /^Timeline/ }).first().click();
        const timeline = page.getByTestId('payment-timeline');
        await timeline.getByText('Refunded').first().waitFor({ timeout: WAIT_MS });
        await expect(timeline.getByText('Captured').count()).resolves.toBeGreaterThan(0);
        await saveScreenshot(page, 'dashboard', 'payments');
        expect(await seriousAccessibilityViolations(page)).toEqual([]);

        await open('invoices');
        const invoice = page.locator(`[data-testid=invoices-table] tr[data-invoice-number="${invoiceNumber}"]`);
        await expect(invoice.locator('td').allTextContents()).resolves.toEqual(['Acme Trading GmbH', 'Open', expect.any(String), expect.any(String), '252.55 USD', '252.55 USD', '100.00 USD', '152.55 USD']);
        await page.getByLabel('Status').selectOption('PAID');
        await page.getByText('No invoice matches.').waitFor({ timeout: WAIT_MS });
        await page.getByLabel('Status').selectOption('');
        await invoice.waitFor({ timeout: WAIT_MS });

        for (const view of ['overview', 'invoices'] as const) {
          await open(view);
          await saveScreenshot(page, 'dashboard', view);
          expect(await seriousAccessibilityViolations(page)).toEqual([]);
        }
      });

      it('shows the two flags of a statement imported in the background as they are raised, and acknowledges and resolves them', async () => {
        const bank = await bankAccountAwaitingTwoDiscrepancies(api);
        await open('flags');
        await page.getByTestId('no-flags').waitFor();

        const importing = api.ok(ImportBankStatementDocument, { input: { bankAccountId: bank.id, format: 'MT940', content: TWO_DISCREPANCIES_MT940 } });
        const short = await flagCard('AMOUNT_MISMATCH');
        const unknown = await flagCard('UNMATCHED_STATEMENT_LINE');
        await importing;
        await expect(page.locator('[data-flag-id]').count()).resolves.toBe(2);
        await expect(short.getAttribute('data-flag-status')).resolves.toBe('OPEN');
        await expect(short.getByText('98.50').count()).resolves.toBeGreaterThan(0);
        await saveScreenshot(page, 'dashboard', 'flags');
        expect(await seriousAccessibilityViolations(page)).toEqual([]);

        await short.getByRole('button', { name: 'Acknowledge' }).click();
        await page.locator('[data-flag-kind=AMOUNT_MISMATCH][data-flag-status=ACKNOWLEDGED]').waitFor({ timeout: WAIT_MS });
        const flags = await query<{ reconciliationFlags: { edges: { node: { kind: string; status: string } }[] } }>('{ reconciliationFlags(first: 10) { edges { node { kind status } } } }');
        expect(Object.fromEntries(flags.reconciliationFlags.edges.map(({ node }) => [node.kind, node.status]))).toEqual({ AMOUNT_MISMATCH: 'ACKNOWLEDGED', UNMATCHED_STATEMENT_LINE: 'OPEN' });

        // Resolving as ACCEPTED needs a note: the browser's own check stops an empty one before any request.
        await unknown.getByRole('button', { name: 'Resolve…' }).click();
        await unknown.getByLabel('Note').fill('Refund of a supplier overpayment, booked next month');
        await unknown.getByRole('button', { name: 'Resolve flag' }).click();
        await page.locator('[data-flag-kind=UNMATCHED_STATEMENT_LINE][data-flag-status=RESOLVED]').waitFor({ timeout: WAIT_MS });
        await open('bank-accounts');
        await page.getByTestId('reconciliation-report').waitFor({ timeout: WAIT_MS });
        await saveScreenshot(page, 'dashboard', 'bank-accounts');
        expect(await seriousAccessibilityViolations(page)).toEqual([]);
        await open('flags');
      });

      it('gets the flag raised while the server was down once it is back, and stays usable at tablet width', async () => {
        const ing = await createBankAccount(api, { accountNumber: '0001234567', currency: 'EUR' });
        const sequenceBefore = BigInt((await page.getByTestId('feed-sequence').textContent()) ?? '0');
        await server.close();
        await page.getByTestId('feed-status').getByText('Reconnecting…').waitFor({ timeout: WAIT_MS });

        // The API is down for this browser; the books are not: a statement import raises a flag meanwhile.
        const imported = await runtime.services.reconciliation.importStatement(demoTenantId, { bankAccountId: ing.id, format: StatementFormat.MT940, content: fixtureBytes(ING) });
        expect(imported.flags.map((flag) => flag.kind)).toEqual(['STATEMENT_BALANCE_MISMATCH']);
        await expect(page.locator('[data-flag-kind=STATEMENT_BALANCE_MISMATCH]').count()).resolves.toBe(0);

        await start();
        const missed = await flagCard('STATEMENT_BALANCE_MISMATCH');
        await page.getByTestId('feed-status').getByText('Live').waitFor({ timeout: WAIT_MS });
        await expect(missed.getAttribute('data-flag-id')).resolves.toBe(imported.flags[0].id);
        expect(BigInt((await page.getByTestId('feed-sequence').textContent()) ?? '0')).toBeGreaterThan(sequenceBefore);
        // One card per flag of the tenant (the real statement's lines raised some of their own): the
        // resumed feed replayed nothing twice and missed none.
        const { reconciliationFlags } = await query<{ reconciliationFlags: { edges: { node: { id: string } }[] } }>('{ reconciliationFlags(first: 100) { edges { node { id } } } }');
        await page.waitForFunction(
          (count) => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll('[data-flag-id]').length === count,
          reconciliationFlags.edges.length,
          { timeout: WAIT_MS },
        );
        const cards = await page.locator('[data-flag-id]').evaluateAll((elements) => elements.map((element) => element.getAttribute('data-flag-id')));
        expect(cards.sort()).toEqual(reconciliationFlags.edges.map(({ node }) => node.id).sort());

        // A tablet held upright: the menu folds above the content, nothing needs a horizontal scroll.
        await page.setViewportSize(TABLET);
        for (const view of VIEWS) {
          await open(view);
          const overflow = await page.evaluate(() => {
            const { document } = globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } };
            return document.documentElement.scrollWidth - document.documentElement.clientWidth;
          });
          expect({ view, overflow }).toEqual({ view, overflow: 0 });
          await saveScreenshot(page, 'dashboard', `tablet-${view}`);
        }
        await page.setViewportSize({ width: 1280, height: 900 });
        await open('overview');
        // The tiles are the API's own figures: nothing was written since the page read them.
        const figures = await query<{
          serviceHealth: { mutationLatencyMsP99: number | null; mutationCount: number };
          reconciliationAccuracy: { automaticLineRate: number | null; statementLines: number; statementLinesMatchedAutomatically: number };
        }>('{ serviceHealth { mutationLatencyMsP99 mutationCount } reconciliationAccuracy { automaticLineRate statementLines statementLinesMatchedAutomatically } }');
        expect(figures.serviceHealth.mutationLatencyMsP99).not.toBeNull();
        await page.getByTestId('kpi-latency').getByText(`${Math.round(figures.serviceHealth.mutationLatencyMsP99!)} ms`, { exact: true }).waitFor({ timeout: WAIT_MS });
        await expect(page.getByTestId('kpi-latency').textContent()).resolves.toContain(`${figures.serviceHealth.mutationCount} writes`);
        await expect(page.getByTestId('kpi-uptime').locator('.tile-value').textContent()).resolves.toMatch(/^\d+ min \d+ s$/);
        const { automaticLineRate, statementLines, statementLinesMatchedAutomatically } = figures.reconciliationAccuracy;
        expect(statementLines).toBeGreaterThan(0);
        // Each tile has its own query: wait for this one's figure rather than read the tile at once.
        await page.getByTestId('kpi-accuracy').getByText(`${((automaticLineRate ?? 0) * 100).toFixed(1)} %`, { exact: true }).waitFor({ timeout: WAIT_MS });
        await expect(page.getByTestId('kpi-accuracy').textContent()).resolves.toContain(`${statementLinesMatchedAutomatically} of ${statementLines} statement lines`);
        await expect(page.getByTestId('recent-steps').locator('li').count()).resolves.toBeGreaterThan(2);
        await saveScreenshot(page, 'dashboard', 'overview');
        expect(await seriousAccessibilityViolations(page)).toEqual([]);
      });

      it('signs in with OAuth client credentials, showing the client’s scopes, and signs out', async () => {
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.getByRole('button', { name: 'Sign in' }).waitFor();
        const { createOAuthClient } = await api.ok(CreateOAuthClientDocument, { input: { name: 'Auditor', scopes: ['RECONCILIATION_READ', 'LEDGER_READ'] } });
        await page.getByLabel('With OAuth client credentials').check();
        await page.getByLabel('Client id').fill(createOAuthClient.client.id);
        await page.getByLabel('Client secret').fill(createOAuthClient.clientSecret);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('navigation', { name: 'Views' }).waitFor();
        await expect(page.locator('.who').textContent()).resolves.toContain('OAuth client');
        await page.getByText('2 scopes').click();
        await expect(page.getByRole('list', { name: 'Scopes of this credential' }).locator('li').allTextContents()).resolves.toEqual(['ledger:read', 'reconciliation:read']);
        // Read-only: the flags are there, without the buttons that would only be refused.
        await open('flags');
        await flagCard('STATEMENT_BALANCE_MISMATCH');
        await expect(page.getByRole('button', { name: 'Acknowledge' }).count()).resolves.toBe(0);

        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.getByRole('button', { name: 'Sign in' }).waitFor();
        // Nothing of the last session stays in the form.
        await expect(page.getByLabel('API key', { exact: true }).inputValue()).resolves.toBe('');
      });

      it('ends the session, saying why, when its API key is revoked while the page is open', async () => {
        const { createApiKey } = await api.ok(CreateApiKeyDocument, { input: { name: 'Wall screen', scopes: ['RECONCILIATION_READ'] } });
        await page.getByLabel('API key', { exact: true }).fill(createApiKey.secret);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByTestId('feed-status').getByText('Live').waitFor({ timeout: WAIT_MS });

        await api.ok(RevokeApiKeyDocument, { input: { id: createApiKey.apiKey.id } });
        const ended = page.getByTestId('session-ended');
        await ended.waitFor({ timeout: WAIT_MS });
        await expect(ended.textContent()).resolves.toContain('UNAUTHENTICATED');
        await expect(page.getByRole('navigation', { name: 'Views' }).count()).resolves.toBe(0);
        expect(problems.policyViolations).toEqual([]);
        expect(problems.errors).toEqual([]);
      });
    });
  });
});
