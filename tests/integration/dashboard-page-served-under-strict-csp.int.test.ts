import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import helmet from 'helmet';
import { createLogger } from '../../src/bootstrap';
import { ACCESS_LOG_MESSAGE } from '../../src/server/access-log';
import { startServer, type RunningServer } from '../../src/server/app';
import { DASHBOARD_CONTENT_SECURITY_POLICY } from '../../src/server/dashboard.routes';
import { buildDashboard } from '../helpers/dashboard-build';
import { startTestApp, testRuntimeConfig, type TestApp } from '../helpers/harness';
import { type Family, parsePrometheusText, valueOf } from '../helpers/prometheus-text';
import { waitUntil } from '../helpers/ws-client';

/**
 * GET /dashboard over real HTTP, as a browser fetches it before it runs anything: the page (built by
 * vite, as `npm run build` builds it) under the dashboard's own strict Content-Security-Policy, with
 * no inline script or style for that policy to refuse and every script and stylesheet from this
 * origin's /dashboard/assets/; the assets cached for a year under their hashed names, with the
 * content types a browser that is told nosniff insists on; nothing of the disk beyond assets/ for
 * any spelling of `..`; a 503 that says how to build it while it is not built; the rest of the
 * server still under helmet's policy; and the dashboard's requests labelled as its routes in
 * /metrics and the access log, not lumped with the unmatched paths of probes.
 *
 * The page touches no database (its data comes from /graphql, with the key the user signs in with),
 * so one database kind is enough.
 */

const METRICS_TOKEN = crypto.randomBytes(32).toString('hex');

/** The policy helmet gives every other route (app.ts mounts it with its defaults), as helmet itself writes it. */
function helmetDefaultPolicy(): string {
  const headers = new Map<string, string>();
  const response = { setHeader: (name: string, value: string) => headers.set(name.toLowerCase(), value), removeHeader: () => undefined };
  helmet.contentSecurityPolicy()({} as never, response as never, () => undefined);
  const policy = headers.get('content-security-policy');
  if (!policy) throw new Error('helmet set no Content-Security-Policy');
  return policy;
}

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A GET with the path sent exactly as written. fetch (like a browser) resolves `..` and `%2e%2e`
 * before it sends anything, so the traversal attempts a hand-made client can send are sent this way.
 */
function rawGet(origin: string, rawPath: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const request = http.request({ hostname, port, path: rawPath, method: 'GET' }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

/** The attributes of every `<tag …>` opening tag of the page, by a deliberately plain reading: vite writes a small, regular page. */
function openingTags(html: string, tag: string): Record<string, string>[] {
  return [...html.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, 'gi'))].map((match) =>
    Object.fromEntries([...match[1].matchAll(/([\w:-]+)(?:\s*=\s*"([^"]*)")?/g)].map((attribute) => [attribute[1].toLowerCase(), attribute[2] ?? ''])),
  );
}

/** The content types a browser needs for what the page loads (a module script is refused under nosniff unless served as JavaScript). */
const CONTENT_TYPE_OF_EXTENSION: Record<string, RegExp> = {
  '.js': /^text\/javascript; charset=utf-8$/i,
  '.css': /^text\/css; charset=utf-8$/i,
  '.map': /^application\/json; charset=utf-8$/i,
};

describe('GET /dashboard: the page and its assets under a strict CSP [sqlite]', () => {
  let app: TestApp;
  let origin: string;
  let dashboardDirectory: string;

  beforeAll(async () => {
    dashboardDirectory = buildDashboard().directory;
    app = await startTestApp('sqlite', { env: { DASHBOARD_DIR: dashboardDirectory, METRICS_TOKEN, METRICS_DB_READ_INTERVAL_MS: '0' } });
    origin = new URL(app.url).origin;
  });
  afterAll(async () => {
    await app?.close();
  });

  async function scrape(): Promise<Map<string, Family>> {
    const response = await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(response.status).toBe(200);
    return parsePrometheusText(await response.text());
  }

  /** The page's assets: the scripts and stylesheets it names, and the source maps those name. */
  async function referencedAssets(): Promise<string[]> {
    const html = await (await fetch(`${origin}/dashboard`)).text();
    const named = [
      ...openingTags(html, 'script').map((attributes) => attributes.src),
      ...openingTags(html, 'link')
        .filter((attributes) => attributes.rel !== 'icon')
        .map((attributes) => attributes.href),
    ];
    const maps: string[] = [];
    for (const asset of named) {
      const text = await (await fetch(new URL(asset, origin))).text();
      const map = /\/[/*]# sourceMappingURL=(\S+?)(?:\s*\*\/)?\s*$/.exec(text)?.[1];
      if (map) maps.push(new URL(map, new URL(asset, origin)).pathname);
    }
    return [...named, ...maps];
  }

  it('answers /dashboard and /dashboard/ with the page under the dashboard policy, revalidated on every visit, without a credential', async () => {
    const indexHtml = fs.readFileSync(path.join(dashboardDirectory, 'index.html'), 'utf8');
    for (const pathname of ['/dashboard', '/dashboard/']) {
      // No Authorization header: the page holds nothing of a tenant's; the user signs in on it.
      const response = await fetch(`${origin}${pathname}`, { redirect: 'manual' });
      expect([pathname, response.status]).toEqual([pathname, 200]);
      expect(response.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8$/i);
      expect(response.headers.get('cache-control')).toBe('no-cache');
      expect(response.headers.get('set-cookie')).toBeNull();
      // One policy, exactly the dashboard's (a second header would be joined into this one by fetch).
      expect(response.headers.get('content-security-policy')).toBe(DASHBOARD_CONTENT_SECURITY_POLICY);
      expect(await response.text()).toBe(indexHtml);
    }
    const directives = DASHBOARD_CONTENT_SECURITY_POLICY.split(';').map((directive) => directive.trim());
    expect(DASHBOARD_CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(directives).toEqual(expect.arrayContaining(["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]));
  });

  it('has no inline script, style or handler, and loads every script and stylesheet from this origin’s /dashboard/assets/', async () => {
    const html = await (await fetch(`${origin}/dashboard`)).text();
    // Script elements carry only a src: nothing between the tags.
    for (const match of html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/gi)) expect(match[1].trim()).toBe('');
    expect(html).not.toMatch(/<style\b/i);
    expect(html).not.toMatch(/\sstyle\s*=/i);
    expect(html).not.toMatch(/\son[a-z]+\s*=/i);
    expect(html).not.toMatch(/javascript:/i);

    const scripts = openingTags(html, 'script');
    const links = openingTags(html, 'link');
    expect(scripts.length).toBeGreaterThan(0);
    expect(links.filter((attributes) => attributes.rel === 'stylesheet').length).toBeGreaterThan(0);
    const sameOriginAsset = (reference: string) => {
      const resolved = new URL(reference, `${origin}/dashboard/`);
      return resolved.origin === origin && /^\/dashboard\/assets\/[\w-][\w.-]*$/.test(resolved.pathname) && reference.startsWith('/dashboard/assets/');
    };
    for (const script of scripts) expect([script.src, sameOriginAsset(script.src ?? '')]).toEqual([script.src, true]);
    for (const link of links) {
      // The one exception: the empty favicon, the data: URI img-src allows, so that the browser asks no /favicon.ico.
      if (link.rel === 'icon') expect(link.href).toBe('data:,');
      else expect([link.rel, link.href, sameOriginAsset(link.href ?? '')]).toEqual([link.rel, link.href, true]);
    }
  });

  it('serves each asset the page references with a year’s immutable caching and its content type', async () => {
    const assets = await referencedAssets();
    expect(assets.some((asset) => asset.endsWith('.js'))).toBe(true);
    expect(assets.some((asset) => asset.endsWith('.css'))).toBe(true);
    for (const asset of assets) {
      const response = await fetch(`${origin}${asset}`);
      const body = Buffer.from(await response.arrayBuffer());
      expect([asset, response.status]).toEqual([asset, 200]);
      expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect([asset, response.headers.get('content-type')]).toEqual([asset, expect.stringMatching(CONTENT_TYPE_OF_EXTENSION[path.extname(asset)] ?? /^$/)]);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('content-security-policy')).toBe(DASHBOARD_CONTENT_SECURITY_POLICY);
      expect(body.equals(fs.readFileSync(path.join(dashboardDirectory, asset.slice('/dashboard/'.length))))).toBe(true);
    }
  });

  it('answers an unknown asset and every spelling of `..` with the app’s JSON 404 and nothing of the disk', async () => {
    const packageJson = fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8');
    const indexHtml = fs.readFileSync(path.join(dashboardDirectory, 'index.html'), 'utf8');
    const attempts = [
      '/dashboard/assets/index-00000000.js',
      '/dashboard/assets/',
      '/dashboard/assets/.build-complete',
      '/dashboard/assets/..%2f..%2fpackage.json',
      '/dashboard/assets/..%2F..%2F..%2F..%2Fpackage.json',
      '/dashboard/assets/%2e%2e/index.html',
      '/dashboard/assets/%2e%2e%2findex.html',
      '/dashboard/assets/..%5c..%5cpackage.json',
      '/dashboard/assets/../index.html',
      '/dashboard/../package.json',
      '/dashboard/%2e%2e/package.json',
      '/dashboard/index.html/..%2f..%2f..%2fpackage.json',
    ];
    for (const attempt of attempts) {
      const answer = await rawGet(origin, attempt);
      expect([attempt, [400, 404].includes(answer.status)]).toEqual([attempt, true]);
      expect([attempt, answer.headers['content-type']]).toEqual([attempt, expect.stringMatching(/^application\/json/)]);
      const body = JSON.parse(answer.body) as { errors: { extensions: { code: string } }[] };
      expect([attempt, body.errors[0].extensions.code]).toEqual([attempt, answer.status === 404 ? 'NOT_FOUND' : 'VALIDATION_FAILED']);
      expect(answer.body).not.toContain(packageJson.slice(0, 40));
      expect(answer.body).not.toContain(indexHtml.slice(0, 40));
    }
  });

  it('leaves helmet’s default policy on the other routes', async () => {
    const helmetPolicy = helmetDefaultPolicy();
    expect(helmetPolicy).not.toBe(DASHBOARD_CONTENT_SECURITY_POLICY);
    for (const pathname of ['/graphql', '/v1/docs', '/healthz', '/dashboards', '/v1/dashboard']) {
      const response = await fetch(`${origin}${pathname}`, { headers: { accept: 'text/html' } });
      await response.arrayBuffer();
      expect([pathname, response.headers.get('content-security-policy')]).toEqual([pathname, helmetPolicy]);
    }
  });

  it('counts the page and its assets under their own routes in /metrics, not with unmatched paths', async () => {
    const assets = await referencedAssets();
    const before = await scrape();
    // Each body read to its end: an answer is counted once it has been written out whole.
    const statusOf = async (pathname: string) => {
      const response = await fetch(`${origin}${pathname}`);
      await response.arrayBuffer();
      return response.status;
    };
    for (const pathname of ['/dashboard', '/dashboard/', ...assets]) expect([pathname, await statusOf(pathname)]).toEqual([pathname, 200]);
    expect(await statusOf('/dashboard/assets/index-00000000.js')).toBe(404);
    const after = await scrape();
    const delta = (labels: Record<string, string>) =>
      valueOf(after, 'reckon_http_request_duration_seconds_count', labels) - valueOf(before, 'reckon_http_request_duration_seconds_count', labels);
    expect(delta({ route: '/dashboard', method: 'GET', status: '200' })).toBe(2);
    expect(delta({ route: '/dashboard/assets/:file', method: 'GET', status: '200' })).toBe(assets.length);
    expect(delta({ route: '/dashboard/assets/:file', method: 'GET', status: '404' })).toBe(1);
    // The scrape before is the only other request in between, and it has a route of its own.
    expect(delta({ route: '(unmatched)' })).toBe(0);
  });
});

describe('GET /dashboard before the dashboard is built [sqlite]', () => {
  let app: TestApp;
  let server: RunningServer;
  let emptyDirectory: string;
  const logged: Record<string, unknown>[] = [];

  beforeAll(async () => {
    app = await startTestApp('sqlite');
    emptyDirectory = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-dashboard-unbuilt-'));
    // A server of its own, on the same services, whose log is read: the harness's is silent.
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) logged.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const config = testRuntimeConfig('sqlite::memory:', { env: { DASHBOARD_DIR: emptyDirectory } });
    server = await startServer({ services: app.runtime.services, log: createLogger('info', capture), config }, 0, '127.0.0.1');
  });
  afterAll(async () => {
    await server?.close();
    await app?.close();
    if (emptyDirectory) fs.rmSync(emptyDirectory, { recursive: true, force: true });
  });

  it('answers 503 with how to build it, warns once, and labels the requests as the dashboard’s', async () => {
    const origin = new URL(server.url).origin;
    for (const pathname of ['/dashboard', '/dashboard/', '/dashboard']) {
      const response = await fetch(`${origin}${pathname}`);
      const text = await response.text();
      expect([pathname, response.status]).toEqual([pathname, 503]);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(response.headers.get('content-security-policy')).toBe(DASHBOARD_CONTENT_SECURITY_POLICY);
      expect(text).toContain('npm run build');
      expect(text).toContain('DASHBOARD_DIR');
      expect(text).toContain(path.resolve(emptyDirectory));
    }
    const asset = await fetch(`${origin}/dashboard/assets/index-00000000.js`);
    expect(asset.status).toBe(404);
    expect(((await asset.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('NOT_FOUND');

    const warnings = logged.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('the dashboard is not built'));
    expect(warnings).toEqual([expect.objectContaining({ level: 40, directory: path.resolve(emptyDirectory) })]);
    const accessLines = () => logged.filter((line) => line.msg === ACCESS_LOG_MESSAGE && typeof line.path === 'string' && line.path.startsWith('/dashboard'));
    // An access line is written when the answer has been handed to the socket, which may come just after the client has read it.
    await waitUntil(() => accessLines().length >= 4, 'the four dashboard requests are logged');
    expect(accessLines().map((line) => [line.path, line.route, line.status])).toEqual([
      ['/dashboard', '/dashboard', 503],
      ['/dashboard/', '/dashboard', 503],
      ['/dashboard', '/dashboard', 503],
      ['/dashboard/assets/index-00000000.js', '/dashboard/assets/:file', 404],
    ]);
  });
});
