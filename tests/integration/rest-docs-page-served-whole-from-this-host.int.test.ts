import { startTestApp, type TestApp } from '../helpers/harness';
import { originOf } from '../helpers/rest-client';

/**
 * GET /v1/docs renders the OpenAPI document with Swagger UI served from the swagger-ui-dist package:
 * the page must work under the Content-Security-Policy every other response has (helmet's: scripts
 * from this origin only, none inline), and must need nothing from another host (no CDN). No browser
 * runs here, so this checks what a browser would load: the page, every asset it names, the script
 * that starts Swagger UI, and the document it fetches. The page does not touch the database, so one
 * database (SQLite) is enough.
 */
describe('the /v1/docs page is served whole from this host, under the usual Content-Security-Policy', () => {
  let app: TestApp;
  let origin: string;

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    origin = originOf(app.url);
  });

  afterAll(async () => {
    await app?.close();
  });

  /** Every src and href of an HTML page. */
  function referencesOf(html: string): string[] {
    return [...html.matchAll(/\s(?:src|href)\s*=\s*"([^"]*)"/gi)].map((match) => match[1]);
  }

  it('answers HTML with the same Content-Security-Policy as any other route: scripts from this origin only', async () => {
    const docs = await fetch(`${origin}/v1/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/^text\/html/);
    const policy = docs.headers.get('content-security-policy') ?? '';
    const document = await fetch(`${origin}/v1/openapi.json`);
    expect(policy).toBe(document.headers.get('content-security-policy'));
    const directives = new Map(policy.split(';').map((directive) => {
      const [name, ...values] = directive.trim().split(/\s+/);
      return [name, values] as const;
    }));
    expect(directives.get('script-src')).toEqual(["'self'"]);
    expect(directives.get('script-src-attr')).toEqual(["'none'"]);
  });

  it('has no inline script, no event handler attribute and no address off this host', async () => {
    const html = await (await fetch(`${origin}/v1/docs`)).text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\ssrc="/);
      expect(body.trim()).toBe('');
    }
    expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    expect(html).not.toMatch(/\bhttps?:\/\//i);
    expect(html).not.toMatch(/(?:src|href)\s*=\s*"\/\//i);
  });

  it('serves every asset the page names, from /v1/docs/assets, and the document it renders', async () => {
    const html = await (await fetch(`${origin}/v1/docs`)).text();
    const references = referencesOf(html);
    const assets = references.filter((reference) => reference !== '/v1/openapi.json');
    expect(assets).toEqual(expect.arrayContaining(['/v1/docs/assets/swagger-ui-bundle.js', '/v1/docs/assets/swagger-ui.css', '/v1/docs/assets/reckon-docs.js']));
    for (const asset of assets) {
      expect(asset.startsWith('/v1/docs/assets/')).toBe(true);
      const response = await fetch(`${origin}${asset}`);
      expect([asset, response.status]).toEqual([asset, 200]);
      const type = response.headers.get('content-type') ?? '';
      if (asset.endsWith('.js')) expect(type).toMatch(/javascript/);
      if (asset.endsWith('.css')) expect(type).toMatch(/^text\/css/);
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    // Only the files the page needs are served from the package, not the package's whole folder.
    expect((await fetch(`${origin}/v1/docs/assets/package.json`)).status).toBe(404);
    expect((await fetch(`${origin}/v1/docs/assets/..%2Fpackage.json`)).status).toBe(404);
  });

  it('starts Swagger UI on this host’s document, with no request elsewhere (no validator badge)', async () => {
    const script = await (await fetch(`${origin}/v1/docs/assets/reckon-docs.js`)).text();
    expect(script).toContain("url: '/v1/openapi.json'");
    expect(script).toContain('validatorUrl: null');
    expect(script).not.toMatch(/\bhttps?:\/\//i);

    const response = await fetch(`${origin}/v1/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const document = (await response.json()) as { openapi: string; info: { title: string }; paths: Record<string, unknown> };
    expect(document.openapi).toBe('3.1.0');
    expect(document.info.title).toBe('Reckon REST API');
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/v1/payments', '/v1/payments/{paymentId}/capture']));
  });
});
