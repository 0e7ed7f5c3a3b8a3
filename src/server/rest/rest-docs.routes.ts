import path from 'node:path';
import express from 'express';

/** swagger-ui-dist's own folder: its files are served as they ship, from the installed package. */
const SWAGGER_UI_DIRECTORY = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const SERVED_ASSETS = ['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js', 'favicon-32x32.png'];

/** The page itself: no inline script or style, so the server's Content-Security-Policy holds as it is. */
const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reckon REST API</title>
<link rel="stylesheet" href="/v1/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/v1/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<noscript>This page renders /v1/openapi.json with JavaScript; the document itself is at <a href="/v1/openapi.json">/v1/openapi.json</a>.</noscript>
<script src="/v1/docs/assets/swagger-ui-bundle.js"></script>
<script src="/v1/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/v1/docs/assets/reckon-docs.js"></script>
</body>
</html>
`;

const DOCS_SCRIPT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/v1/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout',
    persistAuthorization: false,
    // Swagger UI would otherwise show a badge that fetches validator.swagger.io with the document's
    // address: a request off this host, which the Content-Security-Policy (img-src 'self') refuses.
    validatorUrl: null,
  });
});
`;

/**
 * GET /v1/docs: the OpenAPI document rendered by Swagger UI, served from the swagger-ui-dist package
 * (nothing fetched from a CDN). The page asks for no credential; "Authorize" holds one in the page
 * only, for "Try it out".
 */
export function docsRoutes(): express.Router {
  const router = express.Router();
  router.get('/docs', (_req, res) => {
    res.type('html').set('Cache-Control', 'no-cache').send(DOCS_PAGE);
  });
  router.get('/docs/assets/reckon-docs.js', (_req, res) => {
    res.type('application/javascript').set('Cache-Control', 'no-cache').send(DOCS_SCRIPT);
  });
  router.get('/docs/assets/:file', (req, res, next) => {
    const file = req.params.file;
    if (!SERVED_ASSETS.includes(file)) {
      next();
      return;
    }
    res.sendFile(path.join(SWAGGER_UI_DIRECTORY, file), { maxAge: '1h' });
  });
  return router;
}
