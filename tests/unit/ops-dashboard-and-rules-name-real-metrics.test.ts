import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Metrics } from '../../src/common/metrics';

/**
 * ops/grafana-dashboard.json and ops/prometheus-rules.yml name only metrics the server exposes (or the
 * recording rules define): a renamed metric would otherwise leave an empty panel and an alert that can
 * never fire. The rules are also checked and unit-tested by promtool when it is installed; in CI
 * (.ci/run installs Debian's prometheus package) it must be.
 */
const OPS = path.join(__dirname, '..', '..', 'ops');
const RULES_FILE = path.join(OPS, 'prometheus-rules.yml');
const DASHBOARD_FILE = path.join(OPS, 'grafana-dashboard.json');

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression reads: identifiers outside label matchers, groupings, ranges and strings that are not functions. */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = match[0];
    const after = stripped.slice((match.index ?? 0) + name.length);
    const before = stripped.slice(0, match.index ?? 0);
    if (/^\s*\(/.test(after)) continue; // a function
    if (PROMQL_WORDS.has(name.toLowerCase())) continue;
    if (/[0-9.]$/.test(before)) continue; // the exponent of a number such as 1e9
    names.add(name);
  }
  return [...names];
}

/** The `expr:` and `record:` values of a rules file (single-line or `|` blocks). */
function readRules(text: string): { records: string[]; exprs: string[] } {
  const lines = text.split('\n');
  const records: string[] = [];
  const exprs: string[] = [];
  lines.forEach((line, i) => {
    const record = /^\s*- record:\s*(\S+)\s*$/.exec(line);
    if (record) records.push(record[1]);
    const expr = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (!expr) return;
    if (expr[2] !== '|') {
      exprs.push(expr[2]);
      return;
    }
    const indent = expr[1].length;
    const block: string[] = [];
    for (let j = i + 1; j < lines.length && (lines[j].trim() === '' || lines[j].search(/\S/) > indent); j++) block.push(lines[j]);
    exprs.push(block.join('\n'));
  });
  return { records, exprs };
}

function exposedNames(): Set<string> {
  const metrics = new Metrics({ databaseReadIntervalMs: 0 });
  const names = new Set<string>();
  for (const metric of metrics.registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

describe('ops/ files name real metrics', () => {
  const exposed = exposedNames();
  const rules = readRules(fs.readFileSync(RULES_FILE, 'utf8'));
  const known = new Set([...exposed, ...rules.records]);

  it('reads metric names out of PromQL, and would catch a wrong one', () => {
    expect(metricNamesIn('histogram_quantile(0.99, sum by (le, operation) (rate(reckon_x_bucket{type="mutation", a=~"b|c"}[5m]))) > 0.25').sort()).toEqual(['reckon_x_bucket']);
    expect(metricNamesIn('process_resident_memory_bytes / 1e9 and on (window) reckon:y:count >= 100').sort()).toEqual(['process_resident_memory_bytes', 'reckon:y:count']);
    expect(metricNamesIn('rate(no_such_metric_total[5m])').filter((name) => !known.has(name))).toEqual(['no_such_metric_total']);
  });

  it('the rules read only exposed metrics and their own recordings', () => {
    expect(rules.records.length).toBeGreaterThanOrEqual(5);
    expect(rules.exprs.length).toBeGreaterThanOrEqual(10);
    for (const expr of rules.exprs) {
      const names = metricNamesIn(expr);
      expect(names.length).toBeGreaterThan(0);
      expect([expr, names.filter((name) => !known.has(name))]).toEqual([expr, []]);
    }
  });

  it('the Grafana dashboard is a dashboard whose every panel queries exposed metrics', () => {
    const dashboard = JSON.parse(fs.readFileSync(DASHBOARD_FILE, 'utf8')) as {
      title: string;
      uid: string;
      schemaVersion: number;
      panels: { id: number; type: string; title: string; gridPos: Record<string, number>; targets: { refId: string; expr: string }[] }[];
    };
    expect(typeof dashboard.title).toBe('string');
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(Number.isInteger(dashboard.schemaVersion)).toBe(true);
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
    const queried = new Set<string>();
    for (const panel of dashboard.panels) {
      expect(['timeseries', 'stat', 'gauge', 'table']).toContain(panel.type);
      expect(panel.title.length).toBeGreaterThan(0);
      for (const key of ['x', 'y', 'w', 'h']) expect(Number.isInteger(panel.gridPos[key])).toBe(true);
      expect(panel.targets.length).toBeGreaterThan(0);
      expect(new Set(panel.targets.map((target) => target.refId)).size).toBe(panel.targets.length);
      for (const target of panel.targets) {
        const names = metricNamesIn(target.expr);
        expect(names.length).toBeGreaterThan(0);
        expect([panel.title, names.filter((name) => !known.has(name))]).toEqual([panel.title, []]);
        names.forEach((name) => queried.add(name));
      }
    }
    // The three figures users judge the service by, and request rate and errors, each have a panel.
    for (const name of [
      'reckon:transaction_latency_seconds:p99_5m',
      'reckon_http_request_duration_seconds_count',
      'reckon:reconciliation_accuracy:ratio',
      'reckon_errors_total',
    ]) {
      expect([name, queried.has(name)]).toEqual([name, true]);
    }
  });

  const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  const installed = !promtool.error;
  it('promtool is installed in CI', () => {
    if (process.env.CI) expect(installed).toBe(true);
  });
  (installed ? it : it.skip)('promtool checks the rules and their unit tests pass', () => {
    const check = spawnSync('promtool', ['check', 'rules', RULES_FILE], { encoding: 'utf8' });
    expect([check.status, check.stdout + check.stderr]).toEqual([0, expect.stringContaining('SUCCESS')]);
    const test = spawnSync('promtool', ['test', 'rules', 'prometheus-rules.test.yml'], { encoding: 'utf8', cwd: OPS });
    expect([test.status, test.stdout + test.stderr]).toEqual([0, expect.stringContaining('SUCCESS')]);
  });
});
