import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The dashboard's build: `npm run build` writes it to dist/dashboard, which the API serves at
 * /dashboard. Everything it needs is bundled (no CDN, nothing fetched at run time) and no script or
 * style is inlined into the page, so the server's Content-Security-Policy can refuse inline code.
 * DASHBOARD_OUT_DIR builds elsewhere (the browser tests build into a directory of their own).
 */
const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: '/dashboard/',
  logLevel: 'warn',
  build: {
    outDir: process.env.DASHBOARD_OUT_DIR ? path.resolve(process.env.DASHBOARD_OUT_DIR) : path.resolve(here, '../dist/dashboard'),
    emptyOutDir: true,
    // Small enough that a page needs no inline data: URIs the policy would have to allow for fonts.
    assetsInlineLimit: 0,
    sourcemap: true,
    target: 'es2022',
  },
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
});
