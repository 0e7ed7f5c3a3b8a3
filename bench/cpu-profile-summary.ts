/**
 * Where a CPU profile's time went: reads a V8 .cpuprofile (what BENCH_CPU_PROF makes the API process
 * write) and prints the share of samples spent in each package or source folder, then the functions
 * with the most time of their own.
 *
 *   BENCH_CPU_PROF=/tmp/prof npm run bench:ledger && npm run bench:profile -- /tmp/prof/*.cpuprofile
 *
 * Time is "self" time (the function on top of the stack); idle and garbage collection are their own
 * lines, so the busy share is what the rest adds up to.
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A package under node_modules, a folder of src/ (two levels), or the runtime's own bucket. */
function bucketOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  const nodeModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nodeModules) return nodeModules[1];
  const source = /\/(?:dist\/)?(src\/[^/]+(?:\/[^/]+)?)\//.exec(url) ?? /\/(?:dist\/)?(src\/[^/]+)/.exec(url);
  if (source) return source[1];
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').split('/').slice(0, 2).join('/');
  return url || functionName || '(unknown)';
}

function functionOf(node: ProfileNode): string {
  const { url, functionName, lineNumber } = node.callFrame;
  const where = url.replace(/.*node_modules\//, '').replace(/.*\/(dist\/)?(src\/)/, '$2');
  return `${functionName || '(anonymous)'} ${where}${where ? `:${lineNumber + 1}` : ''}`;
}

function summarize(file: string, top: number): void {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfTime = new Map<number, number>();
  profile.samples.forEach((id, index) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const total = [...selfTime.values()].reduce((sum, time) => sum + time, 0);
  const byBucket = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, time] of selfTime) {
    const node = nodes.get(id);
    if (!node) continue;
    byBucket.set(bucketOf(node), (byBucket.get(bucketOf(node)) ?? 0) + time);
    byFunction.set(functionOf(node), (byFunction.get(functionOf(node)) ?? 0) + time);
  }
  const share = (time: number) => `${((time / total) * 100).toFixed(1).padStart(5)} %`;
  const idle = byBucket.get('(idle)') ?? 0;
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${share(total - idle).trim()} busy`);
  console.log('\nBy package or source folder (self time):');
  for (const [bucket, time] of [...byBucket].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${share(time)}  ${bucket}`);
  console.log('\nFunctions with the most self time:');
  for (const [name, time] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${share(time)}  ${name}`);
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: npm run bench:profile -- <file.cpuprofile> […]');
  process.exit(2);
}
const top = Number(process.env.PROFILE_TOP || 25);
for (const file of files) summarize(file, top);
