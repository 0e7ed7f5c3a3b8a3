import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { AppError, ErrorCode, errorCodeTraits } from '../common/errors';
import { newUlid } from '../common/ids';
import { createRequestContext, type RequestContext } from './context';
import { formatError, isInternalError } from './format-error';
import { buildReckonSchema } from './graphql/schema';
import type { Services } from './services';

export interface ServerOptions {
  services: Services;
  log: Logger;
  /** Introspection is off in production. */
  production: boolean;
}

export interface RunningServer {
  httpServer: http.Server;
  url: string;
  close(): Promise<void>;
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** A caller may send its own X-Request-Id to correlate logs; otherwise we make one. */
function requestIdOf(req: express.Request): string {
  const given = req.header('x-request-id');
  return given && REQUEST_ID_PATTERN.test(given) ? given : `req_${newUlid()}`;
}

/** Adds the request id to every error and logs the unexpected ones in full, under the same id. */
function requestPlugin(log: Logger): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue }) {
          for (const error of errors) {
            if (isInternalError(error)) contextValue.log.error({ err: error.originalError ?? error }, 'internal error');
            else contextValue.log.debug({ err: error.message, code: error.extensions?.code }, 'request error');
          }
        },
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind === 'single' && response.body.singleResult.errors) {
            for (const error of response.body.singleResult.errors) {
              (error as { extensions: Record<string, unknown> }).extensions = { ...error.extensions, requestId: contextValue.requestId };
            }
          }
        },
      };
    },
    async unexpectedErrorProcessingRequest({ error }) {
      log.error({ err: error }, 'unexpected error processing request');
    },
  };
}

/** An authentication failure ends the request with 401 and a WWW-Authenticate challenge (RFC 6750). */
function authenticationError(error: AppError, requestId: string): GraphQLError {
  return new GraphQLError(error.message, {
    extensions: {
      code: error.code,
      requestId,
      http: {
        status: errorCodeTraits(error.code).httpStatus,
        headers: new Map([['www-authenticate', 'Bearer realm="reckon"']]),
      },
    },
  });
}

export async function startServer(options: ServerOptions, port: number, host: string): Promise<RunningServer> {
  const { services, log } = options;
  const app = express();
  app.disable('x-powered-by');
  const httpServer = http.createServer(app);

  const apollo = new ApolloServer<RequestContext>({
    schema: buildReckonSchema(),
    formatError,
    introspection: !options.production,
    includeStacktraceInErrorResponses: false,
    allowBatchedHttpRequests: false,
    csrfPrevention: true,
    plugins: [ApolloServerPluginDrainHttpServer({ httpServer }), requestPlugin(log)],
  });
  await apollo.start();

  app.use((req, res, next) => {
    const requestId = requestIdOf(req);
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await services.dataSource.query('SELECT 1');
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'database unavailable' });
    }
  });

  app.use(
    '/graphql',
    express.json({ limit: '2mb' }),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        const requestId = String(res.locals.requestId);
        try {
          const principal = await services.auth.authenticate(req.header('authorization'));
          return createRequestContext(requestId, principal, services, log);
        } catch (error) {
          if (error instanceof AppError && error.code === ErrorCode.UNAUTHENTICATED) throw authenticationError(error, requestId);
          log.error({ err: error, requestId }, 'authentication failed unexpectedly');
          throw new GraphQLError('Internal server error', {
            extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId, http: { status: 500 } },
          });
        }
      },
    }),
  );

  await new Promise<void>((resolve) => httpServer.listen(port, host, resolve));
  const address = httpServer.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return {
    httpServer,
    url: `http://${shownHost}:${address.port}/graphql`,
    close: async () => {
      await apollo.stop();
    },
  };
}
