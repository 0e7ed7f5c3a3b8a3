import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Builds that suites share: the output of a build step over some sources, made once per digest of
 * those sources in a directory named by it. A build is written into a staging directory and appears
 * under its final name whole, by a rename, so a suite never uses a build another suite is still
 * writing, and a changed source gets a directory of its own. child-server.ts (the server compiled by
 * tsc) and dashboard-build.ts (the dashboard bundled by vite) build this way.
 */

export const ROOT = path.resolve(__dirname, '../..');

/** Written last into a finished build: a directory without it is a build that failed half-way. */
const BUILD_COMPLETE = '.build-complete';
/** Builds of an older source are removed once they are this old (a run still using one is long over). */
const STALE_BUILD_MS = 60 * 60 * 1000;

/** The digest of the files under `directories` that `include` accepts, and of the whole `files`, paths relative to ROOT. */
export function digestOfSources(sources: { directories: string[]; include(fileName: string): boolean; files: string[] }): string {
  const hash = crypto.createHash('sha256');
  const visit = (relative: string) => {
    for (const entry of fs.readdirSync(path.join(ROOT, relative), { withFileTypes: true }).sort((x, y) => x.name.localeCompare(y.name))) {
      const child = path.join(relative, entry.name);
      if (entry.isDirectory()) visit(child);
      else if (entry.isFile() && sources.include(entry.name)) hash.update(child).update('\0').update(fs.readFileSync(path.join(ROOT, child))).update('\0');
    }
  };
  for (const directory of sources.directories) visit(directory);
  for (const file of sources.files) hash.update(fs.readFileSync(path.join(ROOT, file)));
  return hash.digest('hex').slice(0, 16);
}

function removeStaleBuilds(buildRoot: string, current: string): void {
  if (!fs.existsSync(buildRoot)) return;
  for (const entry of fs.readdirSync(buildRoot)) {
    const directory = path.join(buildRoot, entry);
    if (entry !== current && Date.now() - fs.statSync(directory).mtimeMs > STALE_BUILD_MS) fs.rmSync(directory, { recursive: true, force: true });
  }
}

/**
 * The directory `<buildRoot>/<digest>`, built by `build(staging)` if no finished build is there yet.
 * `build` writes into the staging directory it is given and throws (with the tool's output) when it fails.
 */
export function buildOncePerDigest(buildRoot: string, digest: string, build: (staging: string) => void): string {
  const directory = path.join(buildRoot, digest);
  if (fs.existsSync(path.join(directory, BUILD_COMPLETE))) return directory;
  removeStaleBuilds(buildRoot, digest);
  const staging = path.join(buildRoot, `${digest}.${process.pid}.${crypto.randomBytes(3).toString('hex')}`);
  try {
    build(staging);
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  fs.writeFileSync(path.join(staging, BUILD_COMPLETE), '');
  try {
    fs.renameSync(staging, directory);
  } catch (error) {
    // Another suite finished the same build first: use its copy.
    fs.rmSync(staging, { recursive: true, force: true });
    if (!fs.existsSync(path.join(directory, BUILD_COMPLETE))) throw error;
  }
  return directory;
}
