import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildOncePerDigest, digestOfSources, ROOT } from './digest-build';

/**
 * The dashboard as `npm run build:dashboard` builds it (vite, from dashboard/), for the suites that
 * serve it: built once per digest of its sources and shared after (digest-build.ts). The suites never
 * serve dist/dashboard, which `npm run build` may be rewriting from a different source at the same time.
 */

/** Apart from dist/test-builds, whose clean-up removes every entry that is not the current server build. */
const BUILD_ROOT = path.join(ROOT, 'dist', 'test-dashboard-builds');

export interface DashboardBuild {
  /** What DASHBOARD_DIR names: index.html and assets/. */
  directory: string;
}

/** The current dashboard source built by vite: built by the first suite that asks (a few seconds), shared after. */
export function buildDashboard(): DashboardBuild {
  // Everything the dashboard bundles (its own sources and the typed client it imports) and the locked dependencies.
  const digest = digestOfSources({ directories: ['dashboard', path.join('client', 'src')], include: () => true, files: ['package-lock.json'] });
  const directory = buildOncePerDigest(BUILD_ROOT, digest, (staging) => {
    const build = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'dashboard/vite.config.mts'], {
      cwd: ROOT,
      env: { ...process.env, DASHBOARD_OUT_DIR: staging },
      encoding: 'utf8',
    });
    if (build.status !== 0 || !fs.existsSync(path.join(staging, 'index.html'))) {
      throw new Error(`vite build --config dashboard/vite.config.mts failed (exit ${build.status}):\n${build.stdout}${build.stderr}`);
    }
  });
  return { directory };
}
