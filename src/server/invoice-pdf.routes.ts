import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { AppError, ErrorCode } from '../common/errors';
import { isConnectionError, isStatementTimeout, statementTimeoutError } from '../db/transaction';
import type { RequestContext } from '../graphql/context';
import { allowsScope, insufficientScopeError, Scope } from '../modules/auth/scopes';
import type { Services } from '../services/services';
import { refusalHeadersOf, sendRestError } from './rest-errors';

/** The id as logged: it comes from the URL, so it is cut to a length no real id exceeds. */
function loggedIdOf(invoiceId: string): string {
  return invoiceId.slice(0, 64);
}

/**
 * GET /invoices/:id/pdf: the invoice as a PDF (InvoicePdfService builds and renders it). Authenticated
 * like /graphql (Authorization: Bearer …, scope invoices:read) and tenant-scoped: another tenant's
 * invoice is 404 NOT_FOUND exactly like a missing one, a malformed id 400 VALIDATION_FAILED. Errors are
 * the REST routes' JSON (sendRestError). The PDF holds the customer's decrypted details, so it is sent
 * `Cache-Control: private, no-store`: no shared cache or browser keeps a copy.
 */
export function invoicePdfRoutes(services: Services, log: Logger, authenticate: (req: Request, requestId: string) => Promise<RequestContext>): express.Router {
  const router = express.Router();

  const failed = (res: Response, invoiceId: string, tenantId: string | undefined, error: unknown) => {
    const requestId = res.locals.requestId;
    if (error instanceof AppError) {
      log.info({ requestId, tenantId, invoiceId: loggedIdOf(invoiceId), code: error.code }, 'invoice pdf refused');
      sendRestError(res, error, refusalHeadersOf(error));
      return;
    }
    if (isStatementTimeout(error)) {
      log.warn({ requestId, tenantId, invoiceId }, 'invoice pdf ran past its statement time limit');
      sendRestError(res, statementTimeoutError(error));
      return;
    }
    if (isConnectionError(error)) {
      log.warn({ requestId, tenantId, invoiceId, err: error }, 'invoice pdf failed: database unavailable');
      sendRestError(res, new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'The database is unavailable. Retry later.'));
      return;
    }
    log.error({ requestId, tenantId, invoiceId, err: error }, 'invoice pdf failed');
    sendRestError(res, new AppError(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
  };

  router.get('/invoices/:id/pdf', async (req, res) => {
    const requestId = String(res.locals.requestId);
    const invoiceId = String(req.params.id);
    let tenantId: string | undefined;
    try {
      const ctx = await authenticate(req, requestId);
      tenantId = ctx.principal.tenantId;
      if (!allowsScope(ctx.principal.scopes, Scope.INVOICES_READ)) throw insufficientScopeError(Scope.INVOICES_READ);
      const { invoice, filename, pdf } = await services.invoicePdfs.renderInvoice(tenantId, invoiceId);
      log.info({ requestId, tenantId, invoiceId, status: invoice.status, number: invoice.number, bytes: pdf.length }, 'invoice pdf served');
      res
        .status(200)
        .set({
          'Content-Type': 'application/pdf',
          // The file name is the invoice number (A-Z, 0-9, "-") or draft-inv_…: nothing to quote or encode.
          'Content-Disposition': `inline; filename="${filename}"`,
          'Content-Length': String(pdf.length),
          'Cache-Control': 'private, no-store',
        })
        .end(pdf);
    } catch (error) {
      failed(res, invoiceId, tenantId, error);
    }
  });

  return router;
}
