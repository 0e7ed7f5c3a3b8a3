import { AuditActorKind } from '../modules/audit/audit.types';
import type { AuditActor } from './audit-http';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Services } from '../services/services';
import { sourceAddressOf, type TrustProxy } from './source-address';
import { accessRecordOf, noteErrorCodes } from './access-log';
import { databaseOutageCause } from '../db/transaction';

const OAUTH_CLIENT_ID = /^cli_[0-9A-Z]{26}$/;

interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** RFC 6749 §2.3.1: HTTP Basic with form-urlencoded id and secret, or both in the body (not both ways). */
function clientCredentialsOf(req: Request): ClientCredentials | 'conflict' | null {
  const header = req.header('authorization');
  const body = (req.body ?? {}) as Record<string, unknown>;
  const inBody = typeof body.client_id === 'string' || typeof body.client_secret === 'string';
  if (header && /^Basic /i.test(header)) {
    if (inBody) return 'conflict';
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const separator = decoded.indexOf(':');
    if (separator < 0) return null;
    try {
      return {
        clientId: decodeURIComponent(decoded.slice(0, separator).replace(/\+/g, ' ')),
        clientSecret: decodeURIComponent(decoded.slice(separator + 1).replace(/\+/g, ' ')),
      };
    } catch {
      return null;
    }
  }
  if (typeof body.client_id === 'string' && typeof body.client_secret === 'string') {
    return { clientId: body.client_id, clientSecret: body.client_secret };
  }
  return null;
}

function oauthError(res: Response, status: number, error: string, description: string, headers: Record<string, string> = {}): void {
  // RFC 6749's error (invalid_client, invalid_grant, …) is this endpoint's error code in the access line.
  noteErrorCodes(res, [error]);
  res.status(status).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache', ...headers }).json({ error, error_description: description });
}

/**
 * POST /oauth/token (client credentials grant, RFC 6749 §4.4) and GET /.well-known/jwks.json (the
 * public keys that verify our access tokens, for resource servers and for key rotation).
 */
export function oauthRoutes(services: Services, log: Logger): express.Router {
  const router = express.Router();

  router.get('/.well-known/jwks.json', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json(services.auth.jwks);
  });

  router.post('/oauth/token', express.urlencoded({ extended: false, limit: '8kb' }), express.json({ limit: '8kb' }), async (req, res) => {
    try {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const credentials = clientCredentialsOf(req);
      if (credentials === 'conflict') {
        oauthError(res, 400, 'invalid_request', 'Authenticate the client one way only: HTTP Basic or the request body');
        return;
      }
      if (body.grant_type !== 'client_credentials') {
        const given = typeof body.grant_type === 'string';
        oauthError(res, 400, given ? 'unsupported_grant_type' : 'invalid_request', given ? 'Only grant_type=client_credentials is supported' : 'grant_type is required');
        return;
      }
      if (!credentials) {
        oauthError(res, 401, 'invalid_client', 'Client authentication is required', { 'WWW-Authenticate': 'Basic realm="reckon"' });
        return;
      }
      if (body.scope !== undefined && typeof body.scope !== 'string') {
        oauthError(res, 400, 'invalid_scope', 'scope is a space-separated string');
        return;
      }
      // The client id is an identifier, not a secret: the access line names the client that asked,
      // when it has an OAuth client id's shape (anything else could be a secret pasted in the wrong field).
      if (OAUTH_CLIENT_ID.test(credentials.clientId)) accessRecordOf(res).credentialId = credentials.clientId;
      const result = await services.auth.grantClientCredentials(
        credentials.clientId,
        credentials.clientSecret,
        body.scope as string | undefined,
        sourceAddressOf(req, req.app.get('trust proxy fn') as TrustProxy),
      );
      if (!result.ok) {
        const headers: Record<string, string> = {};
        if (result.retryAfterSeconds) headers['Retry-After'] = String(result.retryAfterSeconds);
        if (result.error === 'invalid_client') {
          // RFC 6749 §5.2 and RFC 7235: a 401 challenges with a scheme this endpoint accepts for client
          // authentication. Bearer is how resources are called, never how a client authenticates here.
          headers['WWW-Authenticate'] = 'Basic realm="reckon"';
          oauthError(res, 401, result.error, result.description, headers);
        } else {
          oauthError(res, 400, result.error, result.description, headers);
        }
        return;
      }
      res.locals.auditActor = { tenantId: result.tenantId, actorKind: AuditActorKind.OAUTH_CLIENT, credentialId: result.clientId } satisfies AuditActor;
      res
        .status(200)
        .set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' })
        .json({ access_token: result.accessToken, token_type: 'Bearer', expires_in: result.expiresIn, scope: result.scope });
    } catch (error) {
      // A database outage is no bug: a warning with its cause, and RFC 6749's temporarily_unavailable.
      const outage = databaseOutageCause(error);
      if (outage) {
        log.warn({ cause: outage, requestId: res.locals.requestId }, 'database unavailable');
        oauthError(res, 503, 'temporarily_unavailable', 'The service is unavailable. Retry later.', { 'Retry-After': '1' });
        return;
      }
      log.error({ err: error, requestId: res.locals.requestId }, 'token endpoint failed');
      oauthError(res, 500, 'server_error', 'Internal server error');
    }
  });

  // A body the parsers refuse (malformed JSON, too large) is the client's invalid_request, answered in
  // JSON like every other error here, not with Express's default HTML page and its stack trace.
  const refuseUnreadableBody: express.ErrorRequestHandler = (error: { status?: unknown; type?: unknown }, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status = typeof error.status === 'number' && error.status >= 400 && error.status < 500 ? error.status : 400;
    oauthError(res, status, 'invalid_request', error.type === 'entity.too.large' ? 'The request body is too large' : 'The request body could not be read');
  };
  router.use('/oauth/token', refuseUnreadableBody);

  return router;
}
