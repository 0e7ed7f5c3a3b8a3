import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The dashboard as `npm run build:dashboard` builds it (vite, from dashboard/), for the suites that
 * serve it: built once into a directory named by the digest of its sources and shared after. As with
 * the server's build (child-server.ts), a build is written into a staging directory and appears under
 * its final name whole, by a rename, so a suite never serves a build another suite is still writing,
 * and a changed source gets a directory of its own. The suites never serve dist/dashboard, which
 * `npm run build` may be rewriting from a different source at the same time.
 */

const ROOT = path.resolve(__dirname, '../..');
/** Apart from dist/test-builds, whose clean-up removes every entry that is not the current server build. */
const BUILD_ROOT = path.join(ROOT, 'dist', 'test-dashboard-builds');
/** Written last into a finished build: a directory without it is a build that failed half-way. */
const BUILD_COMPLETE = '.build-complete';
/** Builds of an older source are removed once they are this old (a run still using one is long over). */
const STALE_BUILD_MS = 60 * 60 * 1000;

export interface DashboardBuild {
  /** What DASHBOARD_DIR names: index.html and assets/. */
  directory: string;
}

/** The digest of everything the dashboard bundles (its own sources and the typed client it imports) and of the locked dependencies. */
function sourceDigest(): string {
  const hash = crypto.createHash('sha256');
  const visit = (relative: string) => {
    const absolute = path.join(ROOT, relative);
    for (const entry of fs.readdirSync(absolute, { withFileTypes: true }).sort((x, y) => x.name.localeCompare(y.name))) {
      const child = path.join(relative, entry.name);
      if (entry.isDirectory()) visit(child);
      else if (entry.isFile()) hash.update(child).update('\0').update(fs.readFileSync(path.join(ROOT, child))).update('\0');
    }
  };
  visit('dashboard');
  visit(path.join('client', 'src'));
  hash.update(fs.readFileSync(path.join(ROOT, 'package-lock.json')));
  return hash.digest('hex').slice(0, 16);
}

function removeStaleBuilds(current: string): void {
  if (!fs.existsSync(BUILD_ROOT)) return;
  for (const entry of fs.readdirSync(BUILD_ROOT)) {
    const directory = path.join(BUILD_ROOT, entry);
    if (entry !== current && Date.now() - fs.statSync(directory).mtimeMs > STALE_BUILD_MS) fs.rmSync(directory, { recursive: true, force: true });
  }
}

/** The current dashboard source built by vite: built by the first suite that asks (a few seconds), shared after. */
export function buildDashboard(): DashboardBuild {
  const digest = sourceDigest();
  const directory = path.join(BUILD_ROOT, digest);
  if (fs.existsSync(path.join(directory, BUILD_COMPLETE))) return { directory };
  removeStaleBuilds(digest);
  const staging = path.join(BUILD_ROOT, `${digest}.${process.pid}.${crypto.randomBytes(3).toString('hex')}`);
  const build = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'dashboard/vite.config.mts'], {
    cwd: ROOT,
    env: { ...process.env, DASHBOARD_OUT_DIR: staging },
    encoding: 'utf8',
  });
  if (build.status !== 0 || !fs.existsSync(path.join(staging, 'index.html'))) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new Error(`vite build --config dashboard/vite.config.mts failed (exit ${build.status}):\n${build.stdout}${build.stderr}`);
  }
  fs.writeFileSync(path.join(staging, BUILD_COMPLETE), '');
  try {
    fs.renameSync(staging, directory);
  } catch (error) {
    // Another suite finished the same build first: use its copy.
    fs.rmSync(staging, { recursive: true, force: true });
    if (!fs.existsSync(path.join(directory, BUILD_COMPLETE))) throw error;
  }
  return { directory };
}
