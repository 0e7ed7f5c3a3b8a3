import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { AppError, ErrorCode } from '../common/errors';
import type { RequestContext } from '../graphql/context';
import { allowsScope, insufficientScopeError, Scope } from '../modules/auth/scopes';
import type { Services } from '../services/services';
import { expectedErrorOf, refusalHeadersOf, sendRestError } from './rest-errors';

/** The id as logged: it comes from the URL, so it is cut to a length no real id exceeds. */
function loggedIdOf(invoiceId: string): string {
  return invoiceId.slice(0, 64);
}

/** How a refusal is answered: the REST routes' JSON (sendRestError) or, under /v1, problem+json. */
export type InvoicePdfRefusal = (req: Request, res: Response, error: AppError) => void;

const sendLegacyRefusal: InvoicePdfRefusal = (_req, res, error) => sendRestError(res, error, refusalHeadersOf(error));

/**
 * The invoice as a PDF (InvoicePdfService builds and renders it), for GET /invoices/:id/pdf and GET
 * /v1/invoices/:invoiceId/pdf. Authenticated like /graphql (Authorization: Bearer …, scope
 * invoices:read) and tenant-scoped: another tenant's invoice is 404 NOT_FOUND exactly like a missing
 * one, a malformed id 400 VALIDATION_FAILED. The PDF holds the customer's decrypted details, so it is
 * sent `Cache-Control: private, no-store`: no shared cache or browser keeps a copy.
 */
export function invoicePdfHandler(
  services: Services,
  log: Logger,
  authenticate: (req: Request, requestId: string) => Promise<RequestContext>,
  parameter: string,
  refuse: InvoicePdfRefusal = sendLegacyRefusal,
): express.RequestHandler {
  const failed = (req: Request, res: Response, invoiceId: string, tenantId: string | undefined, error: unknown) => {
    const requestId = res.locals.requestId;
    const expected = expectedErrorOf(error);
    if (expected?.code === ErrorCode.SERVICE_UNAVAILABLE || expected?.code === ErrorCode.STATEMENT_TIMEOUT) {
      log.warn({ requestId, tenantId, invoiceId: loggedIdOf(invoiceId), code: expected.code }, 'invoice pdf failed: database unavailable or too slow');
    } else if (expected) {
      log.info({ requestId, tenantId, invoiceId: loggedIdOf(invoiceId), code: expected.code }, 'invoice pdf refused');
    } else {
      log.error({ requestId, tenantId, invoiceId: loggedIdOf(invoiceId), err: error }, 'invoice pdf failed');
    }
    refuse(req, res, expected ?? new AppError(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
  };

  return async (req, res) => {
    const requestId = String(res.locals.requestId);
    const invoiceId = String(req.params[parameter]);
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
      failed(req, res, invoiceId, tenantId, error);
    }
  };
}

/** GET /invoices/:id/pdf, with the REST routes' JSON errors (sendRestError). */
export function invoicePdfRoutes(services: Services, log: Logger, authenticate: (req: Request, requestId: string) => Promise<RequestContext>): express.Router {
  const router = express.Router();
  router.get('/invoices/:id/pdf', invoicePdfHandler(services, log, authenticate, 'id'));
  return router;
}
