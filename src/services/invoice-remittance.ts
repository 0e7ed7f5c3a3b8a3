import type { ChartAccounts } from '../modules/ledger/default-chart';
import type { LedgerService } from '../modules/ledger/ledger.service';
import type { InvoicePaymentsService } from '../modules/invoicing/invoice-payments.service';
import type { InvoicesService } from '../modules/invoicing/invoices.service';
import { amountRemainingOf, type InvoiceRecord, InvoiceStatus } from '../modules/invoicing/invoices.types';
import type { InvoiceRemittancePort, RemittanceInvoice } from '../modules/reconciliation/invoice-remittance';

function remittanceView(invoice: InvoiceRecord): RemittanceInvoice {
  return { id: invoice.id, number: invoice.number ?? '', status: invoice.status, currency: invoice.currency, amountRemainingMinor: amountRemainingOf(invoice) };
}

/**
 * Invoicing as the reconciliation engine's INVOICE_NUMBER rule sees it (the port of
 * src/modules/reconciliation/invoice-remittance.ts): the two modules stay unaware of each other.
 */
export function invoiceRemittance(ledger: LedgerService, invoices: InvoicesService, payments: InvoicePaymentsService): InvoiceRemittancePort<ChartAccounts> {
  return {
    // Outside the transaction: the chart may be created on first use, in a transaction of its own.
    prepare: (tenantId, currency) => ledger.defaultChartAccounts(tenantId, currency),
    findInvoicesByNumbers: async (manager, tenantId, numbers) => (await invoices.invoicesByNumbersWithin(manager, tenantId, numbers)).map(remittanceView),
    recordBankTransfer: async (manager, tenantId, transfer, chart) => {
      // The invoice's lock first (payments lock the invoice, then customer credit, then the ledger's
      // accounts); recordBankTransferWithin takes it again, which the holder may.
      const before = await invoices.lockInvoice(manager, tenantId, transfer.invoiceId);
      if (before.status !== InvoiceStatus.OPEN || before.currency !== transfer.currency) return { recorded: false, invoice: remittanceView(before) };
      const done = await payments.recordBankTransferWithin(
        manager,
        tenantId,
        {
          invoiceId: transfer.invoiceId,
          amountMinor: transfer.amountMinor,
          reference: transfer.reference,
          receivedOn: transfer.receivedOn,
          bankAccountId: transfer.bankAccountId,
          statementLineId: transfer.statementLineId,
        },
        chart,
      );
      return {
        recorded: true,
        before: remittanceView(before),
        after: remittanceView(done.invoice),
        invoicePaymentId: done.invoicePayment.id,
        journalEntryId: done.invoicePayment.journalEntryId!,
        appliedMinor: done.invoicePayment.appliedMinor,
        creditedMinor: done.invoicePayment.creditedMinor,
        committed: () => payments.publishCommitted(done),
      };
    },
  };
}
