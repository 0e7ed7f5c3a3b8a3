import { CreateWebhookEndpointDocument, ImportBankStatementDocument, WebhookDeliveriesDocument } from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { flagsOf } from '../helpers/matching-fixtures';
import { contentOfFile, createBankAccount, fixtureBytes } from '../helpers/statement-fixtures';
import { eventually, WebhookReceiver } from '../helpers/webhook-receiver';

/**
 * `reconciliation.flag_raised` as an auditor's system receives it: importing a real bank's camt.053
 * file (viafintech's example, five lines of 2013-12-27, long past any matching window and with nothing
 * in the books to match) raises one UNMATCHED_STATEMENT_LINE flag per line, and each reaches the
 * subscribed endpoint once, signed, carrying the flag. Importing the same file again raises nothing
 * new, so nothing more is sent; an endpoint subscribed to other events gets none of these.
 */

async function deliveriesTo(client: GraphQLClient, endpointId: string) {
  const { webhookDeliveries } = await client.ok(WebhookDeliveriesDocument, { filter: { endpointId }, first: 100 });
  return webhookDeliveries.edges.map((edge) => edge.node);
}

describeEachDatabase('outbound webhooks: reconciliation flags raised by an import', (kind) => {
  let app: TestApp;
  const receivers: WebhookReceiver[] = [];

  beforeAll(async () => {
    app = await startTestApp(kind, { env: { WEBHOOK_POLL_INTERVAL_MS: '50' } });
  });
  afterAll(async () => {
    for (const receiver of receivers) await receiver.close();
    await app?.close();
  });

  it('delivers one signed reconciliation.flag_raised per flag, once, and only to endpoints subscribed to it', async () => {
    const flagsReceiver = await WebhookReceiver.start();
    const ledgerReceiver = await WebhookReceiver.start();
    receivers.push(flagsReceiver, ledgerReceiver);
    const { createWebhookEndpoint: flagsEndpoint } = await app.client.ok(CreateWebhookEndpointDocument, {
      input: { url: flagsReceiver.url(), events: ['RECONCILIATION_FLAG_RAISED'] },
    });
    const { createWebhookEndpoint: ledgerEndpoint } = await app.client.ok(CreateWebhookEndpointDocument, {
      input: { url: ledgerReceiver.url(), events: ['JOURNAL_ENTRY_POSTED'] },
    });

    const bank = await createBankAccount(app.client, { currency: 'EUR', iban: 'DE14740618130000033626' });
    const file = contentOfFile(fixtureBytes('camt053/viafintech__053_valid_example.xml'));
    const { importBankStatement } = await app.client.ok(ImportBankStatementDocument, { input: { bankAccountId: bank.id, format: 'CAMT053', ...file } });
    expect(importBankStatement.importedLineCount).toBe(5);

    const flags = await eventually(
      () => flagsOf(app.client, bank.id),
      (list) => list.length === 5,
      'a flag for each of the five old lines',
    );
    expect(new Set(flags.map((flag) => flag.kind))).toEqual(new Set(['UNMATCHED_STATEMENT_LINE']));
    const delivered = await eventually(
      () => deliveriesTo(app.client, flagsEndpoint.webhookEndpoint.id),
      (list) => list.length === 5 && list.every((delivery) => delivery.status === 'DELIVERED'),
      'five deliveries DELIVERED',
    );
    expect(new Set(delivered.map((delivery) => delivery.eventType))).toEqual(new Set(['RECONCILIATION_FLAG_RAISED']));

    // Each request verifies with the Standard Webhooks library and names one flag of the import, with the RAISED action.
    expect(flagsReceiver.received).toHaveLength(5);
    const announced = flagsReceiver.received.map((request) => WebhookReceiver.verify(flagsEndpoint.signingSecret, request));
    for (const payload of announced) {
      expect(payload).toMatchObject({ type: 'reconciliation.flag_raised', tenantId: app.tenantId, data: { action: 'RAISED' } });
    }
    const announcedFlags = announced.map((payload) => payload.data.flag as { id: string; kind: string });
    expect(announcedFlags.map((flag) => flag.id).sort()).toEqual(flags.map((flag) => flag.id).sort());
    expect(new Set(announcedFlags.map((flag) => flag.kind))).toEqual(new Set(['UNMATCHED_STATEMENT_LINE']));

    // The same file again: every line is known, no flag is new, so nothing more is sent.
    await app.client.ok(ImportBankStatementDocument, { input: { bankAccountId: bank.id, format: 'CAMT053', ...file } });
    await app.runtime.services.matching.sweep();
    expect(await flagsOf(app.client, bank.id)).toHaveLength(5);
    expect(await deliveriesTo(app.client, flagsEndpoint.webhookEndpoint.id)).toHaveLength(5);
    expect(flagsReceiver.received).toHaveLength(5);
    // The endpoint subscribed to ledger entries heard nothing of flags (the import posted no entry).
    expect(await deliveriesTo(app.client, ledgerEndpoint.webhookEndpoint.id)).toEqual([]);
    expect(ledgerReceiver.received).toEqual([]);
  });
});
