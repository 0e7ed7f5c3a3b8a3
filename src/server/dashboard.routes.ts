import fs from 'node:fs';
import path from 'node:path';
import express from 'express';
import type { Logger } from 'pino';
import { ErrorCode } from '../common/errors';

/**
 * The policy of the dashboard's pages, stricter than helmet's default for the rest of the server:
 * scripts, styles and connections from this origin only (connect-src 'self' covers the WebSocket
 * on the same host and port), no inline script or style, no plugin, no framing, no base or form
 * target elsewhere. The page's only data: URI is its empty favicon.
 */
export const DASHBOARD_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/** Hashed file names (index-BkmEcrox.js) change with their content, so a year's caching is safe. */
const ASSET_MAX_AGE_SECONDS = 365 * 24 * 3600;

/**
 * What vite names the files of assets/: letters, digits, `_`, `-` and dots, never a leading dot. A
 * name outside this (a decoded `../`, a dotfile) is not one of the dashboard's files, whatever is on
 * the disk, and is answered like any other unknown path.
 */
const ASSET_FILE_NAME = /^[\w-][\w.-]*$/;

/**
 * GET /dashboard: the single-page dashboard built by `npm run build` (vite, from dashboard/) into
 * `directory`. The directory is read per request, so a server started before the build serves it
 * once it exists; until then /dashboard says how to build it instead of a bare 404.
 *
 * Both the page and its assets are express routes (`/dashboard`, `/dashboard/assets/:file`) rather
 * than a static middleware, so that the access log and /metrics label them with their patterns
 * instead of counting them with the unmatched paths that probes and typos make.
 */
export function dashboardRoutes(directory: string, log: Logger): express.Router {
  const router = express.Router();
  const root = path.resolve(directory);
  const indexPath = path.join(root, 'index.html');
  const assetsRoot = path.join(root, 'assets');
  let warnedMissing = false;

  router.use('/dashboard', (_req, res, next) => {
    res.setHeader('Content-Security-Policy', DASHBOARD_CONTENT_SECURITY_POLICY);
    next();
  });
  // Without strict routing this route answers /dashboard/ too.
  router.get('/dashboard', (_req, res) => {
    if (!fs.existsSync(indexPath)) {
      if (!warnedMissing) log.warn({ directory: root }, 'the dashboard is not built: GET /dashboard answers 503 until `npm run build` writes it');
      warnedMissing = true;
      res.locals.errorCode = ErrorCode.SERVICE_UNAVAILABLE;
      res
        .status(503)
        .type('text/plain')
        .send(`The dashboard is not built. Run \`npm run build\` (npm start runs it), or set DASHBOARD_DIR to the directory it was built into (now ${root}).\n`);
      return;
    }
    // Always asked again: the page names the current build's hashed assets.
    res.sendFile(indexPath, { headers: { 'Cache-Control': 'no-cache' }, dotfiles: 'deny' });
  });
  router.get('/dashboard/assets/:file', (req, res, next) => {
    const file = req.params.file;
    if (!ASSET_FILE_NAME.test(file)) {
      next();
      return;
    }
    // `root` keeps the file inside assets/ even if a name got past the pattern.
    res.sendFile(file, { root: assetsRoot, dotfiles: 'deny', immutable: true, maxAge: ASSET_MAX_AGE_SECONDS * 1000 }, (error?: Error & { status?: number }) => {
      // A client that left half-way has nothing more to be told.
      if (!error || res.headersSent) return;
      // No such asset (an old page's, or not built): the app's 404, as for any unknown path.
      if (error.status === 404) next();
      else next(error);
    });
  });
  return router;
}
