import { spawnSync } from 'node:child_process';

/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: every line must
 * be a HELP, a TYPE, a comment or a sample with valid names, escapes and numbers; a family's samples are
 * contiguous and follow its TYPE; no series appears twice; histograms have cumulative buckets ending in
 * +Inf equal to their _count, and a _sum. It throws at the first line that breaks a rule.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string | null;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text: string, line: number): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  // prom-client writes "Nan" (its event-loop figures before the first sample); Prometheus reads floats
  // with Go's ParseFloat, which takes NaN in any case.
  if (text.toLowerCase() === 'nan') return Number.NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`line ${line}: "${text}" is not a number`);
  return Number(text);
}

function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  if (families.has(sampleName)) return families.get(sampleName);
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sampleName.endsWith(suffix)) {
      const family = families.get(sampleName.slice(0, -suffix.length));
      if (family && (family.type === 'histogram' || family.type === 'summary')) return family;
    }
  }
  return undefined;
}

/** Reads `{a="x",b="y"}` from position `at`; returns the labels and the position after `}`. */
function parseLabels(text: string, at: number, line: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = at + 1;
  for (;;) {
    if (text[i] === '}') return { labels, end: i + 1 };
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`line ${line}: label without "="`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`line ${line}: bad label name "${name}"`);
    if (name in labels) throw new Error(`line ${line}: label "${name}" twice`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label value of "${name}" is not quoted`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const next = text[j + 1];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`line ${line}: bad escape \\${next}`);
        j += 2;
        continue;
      }
      value += c;
      j += 1;
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i += 1;
    else if (text[i] !== '}') throw new Error(`line ${line}: expected "," or "}" after a label`);
  }
}

export function parsePrometheusText(body: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seenSeries = new Set<string>();
  const closed = new Set<string>();
  let current: Family | null = null;
  const lines = body.split('\n');
  if (lines[lines.length - 1] !== '') throw new Error('the exposition must end with a newline');
  lines.pop();
  lines.forEach((text, index) => {
    const line = index + 1;
    if (text === '') return;
    if (text.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(text);
      if (!match) return; // a plain comment
      const [, kind, name, rest] = match;
      if (!METRIC_NAME.test(name)) throw new Error(`line ${line}: bad metric name "${name}"`);
      if (closed.has(name)) throw new Error(`line ${line}: ${name} appears again after other families`);
      let family = families.get(name);
      if (!family) {
        if (current && current.name !== name) closed.add(current.name);
        family = { name, type: 'untyped', help: null, samples: [] };
        families.set(name, family);
      }
      if (family.samples.length) throw new Error(`line ${line}: ${kind} of ${name} after its samples`);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`line ${line}: unknown type "${rest}"`);
        family.type = rest as Family['type'];
      } else {
        if (family.help !== null) throw new Error(`line ${line}: second HELP for ${name}`);
        family.help = rest;
      }
      current = family;
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(text);
    if (!nameMatch) throw new Error(`line ${line}: not a sample: ${text}`);
    const name = nameMatch[0];
    let labels: Record<string, string> = {};
    let rest = text.slice(name.length);
    if (rest.startsWith('{')) {
      const parsed = parseLabels(text, name.length, line);
      labels = parsed.labels;
      rest = text.slice(parsed.end);
    }
    const parts = rest.split(' ');
    if (parts[0] !== '' || parts.length < 2 || parts.length > 3) throw new Error(`line ${line}: expected " value [timestamp]" after the series`);
    const value = parseValue(parts[1], line);
    if (parts[2] !== undefined && !/^-?\d+$/.test(parts[2])) throw new Error(`line ${line}: bad timestamp`);
    let family = familyOf(name, families);
    if (!family) {
      family = { name, type: 'untyped', help: null, samples: [] };
      families.set(name, family);
    }
    if (current !== family) {
      if (closed.has(family.name) || family.samples.length) throw new Error(`line ${line}: samples of ${family.name} are not contiguous`);
      if (current) closed.add(current.name);
      current = family;
    }
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seenSeries.has(series)) throw new Error(`line ${line}: series ${series} twice`);
    seenSeries.add(series);
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: { le: number; value: number }[]; sum?: number; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const group = groups.get(key) ?? { buckets: [] };
    groups.set(key, group);
    if (sample.name === `${family.name}_bucket`) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      group.buckets.push({ le: parseValue(le, 0), value: sample.value });
    } else if (sample.name === `${family.name}_sum`) group.sum = sample.value;
    else if (sample.name === `${family.name}_count`) group.count = sample.value;
    else throw new Error(`${family.name}: unexpected sample ${sample.name}`);
  }
  for (const [key, group] of groups) {
    const last = group.buckets[group.buckets.length - 1];
    if (!last || last.le !== Number.POSITIVE_INFINITY) throw new Error(`${family.name}${key}: no +Inf bucket`);
    for (let i = 1; i < group.buckets.length; i++) {
      if (!(group.buckets[i].le > group.buckets[i - 1].le)) throw new Error(`${family.name}${key}: bucket bounds not increasing`);
      if (group.buckets[i].value < group.buckets[i - 1].value) throw new Error(`${family.name}${key}: buckets not cumulative`);
    }
    if (group.count !== last.value) throw new Error(`${family.name}${key}: _count ${group.count} differs from the +Inf bucket ${last.value}`);
    if (group.sum === undefined) throw new Error(`${family.name}${key}: no _sum`);
  }
}

/** The sum of a sample's values over the series whose labels include `labels` (0 when none). */
export function valueOf(families: Map<string, Family>, sampleName: string, labels: Record<string, string> = {}): number {
  const family = familyOf(sampleName, families);
  if (!family) return 0;
  return family.samples
    .filter((sample) => sample.name === sampleName && Object.entries(labels).every(([k, v]) => sample.labels[k] === v))
    .reduce((sum, sample) => sum + sample.value, 0);
}

/** Whether any series of the sample carries `labels`. */
export function hasSeries(families: Map<string, Family>, sampleName: string, labels: Record<string, string> = {}): boolean {
  const family = familyOf(sampleName, families);
  return Boolean(family?.samples.some((sample) => sample.name === sampleName && Object.entries(labels).every(([k, v]) => sample.labels[k] === v)));
}

/** promtool's lint complaints about prom-client's own default metrics, which Reckon does not name. */
const DEFAULT_METRIC_LINT = /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;

/**
 * The lint complaints of `promtool check metrics` on the text, less those about prom-client's default
 * metrics (an exit status of 1, a text promtool cannot read, is thrown). Run when promtool is installed;
 * it is in CI (.ci/run installs Debian's prometheus package), where its absence fails the test. Null
 * when it is not installed outside CI.
 */
export function promtoolMetricsComplaints(body: string): string[] | null {
  const result = promtoolCheckMetrics(body);
  if (result === null) return null;
  if (result.status !== 0 && result.status !== 3) throw new Error(`promtool check metrics failed (${result.status}): ${result.output}`);
  return result.output
    .split('\n')
    .filter((line) => line.trim() !== '' && !DEFAULT_METRIC_LINT.test(line.trim()));
}

/**
 * `promtool check metrics` on the text, when promtool is installed; it is in CI (.ci/run installs
 * Debian's prometheus package), where its absence fails the test. Returns promtool's complaints, or null
 * when it is not installed outside CI.
 */
function promtoolCheckMetrics(body: string): { status: number; output: string } | null {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') {
    if (process.env.CI) throw new Error('promtool is not installed; .ci/run installs it (apt-get install prometheus)');
    return null;
  }
  return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
}
