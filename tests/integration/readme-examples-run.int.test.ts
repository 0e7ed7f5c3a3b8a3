import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildServer, type ChildServer, generateServerKeys, type ServerBuild, startChildServer } from '../helpers/child-server';
import { createTestDatabase, type TestDatabase } from '../helpers/harness';

/**
 * Docs that cannot rot: every ```sh block of README.md runs, in order, in bash against a fresh server
 * started the way Quickstart starts it (its demo tenant, key and gateway printed on the first start),
 * with localhost:4000 replaced by that server's address. Shell state (the `gql` function, CASH, SALES,
 * PAY…) carries from one block to the next, as in one terminal. `npm run reckon -- …` runs the built
 * CLI against the same database. A ```js block runs with node as an ES module from the repository
 * (where graphql-ws and ws are installed) while the test posts a journal entry every half second, which
 * is what a subscription example waits for.
 *
 * A block fails on a non-zero exit, and a command fails when its output holds a GraphQL `errors` list,
 * an OAuth `error` or a REST problem (`"type":"urn:reckon:error:…"`), unless the README documents that
 * error right there: a comment on the command's line or on the comment lines right after it (and after
 * its continuation lines) that shows the answer with its `"code":"…"`. Failures name the README line of
 * the command.
 *
 * In the sections of ANSWERS_SHOWN_IN (the REST section) the README shows what each command prints, and
 * the test holds it to that: the comment lines right under a command are lines of its output (status
 * line, headers, body), in order, where `…` stands for anything; a command that prints must have them.
 */

const ROOT = path.resolve(__dirname, '../..');
const README = path.join(ROOT, 'README.md');

/** Commands a reader runs to install, start and test the project: this test has started its own server. */
const SKIPPED_COMMANDS: { prefix: string; why: string }[] = [
  { prefix: 'npm install', why: 'installs dependencies (the test runs in an installed checkout)' },
  { prefix: 'npm ci', why: 'installs dependencies' },
  { prefix: 'npm start', why: 'starts a server (the test started its own, the same way)' },
  { prefix: 'npm test', why: 'runs the test suite this test is part of' },
];

/**
 * Blocks that show a feature this branch does not serve yet: they are not run (and are listed as such)
 * until the branch that brings the feature is merged, when their entry goes.
 */
const PENDING_BLOCKS: { contains: string; why: string }[] = [
];

/** README sections (their `## ` heading) whose commands show their output under them, checked line by line. */
const ANSWERS_SHOWN_IN = ['REST'];

interface CodeBlock {
  lang: string;
  /** The `## ` heading the block is under. */
  section: string;
  /** 1-based README line of the block's first line of code. */
  firstLine: number;
  lines: string[];
}

function readmeBlocks(): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  let open: (CodeBlock & { indent: number }) | null = null;
  let section = '';
  fs.readFileSync(README, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      const fence = /^(\s*)```(\S*)\s*$/.exec(line);
      const heading = /^## (.+)$/.exec(line);
      if (heading && !open) {
        section = heading[1].trim();
      } else if (fence && !open) {
        open = { lang: fence[2], section, firstLine: index + 2, lines: [], indent: fence[1].length };
      } else if (fence && open) {
        blocks.push({ lang: open.lang, section: open.section, firstLine: open.firstLine, lines: open.lines });
        open = null;
      } else if (open) {
        open.lines.push(line.slice(Math.min(open.indent, line.length - line.trimStart().length)));
      }
    });
  return blocks;
}

const MARKER = '@@readme-line';

/**
 * Runs one block's file in bash, after the state the previous blocks left, and saves the state this
 * one leaves. A DEBUG trap prints the block line of every command at the block's top level (not in
 * functions or command substitutions) before it runs, so output can be laid at the command that
 * printed it. (A plain string: bash's `${…}` must not meet JavaScript's template syntax.)
 */
const DRIVER = [
  '__readme_initial=" $(compgen -v | tr \'\\n\' \' \') "',
  'if [ -s "$README_STATE" ]; then source "$README_STATE"; fi',
  'npm() {',
  '  if [ "$1" != run ]; then echo "README test: \'npm $*\' is not run here; add it to SKIPPED_COMMANDS or make it runnable" >&2; return 97; fi',
  '  shift',
  '  while [ "$1" = -s ] || [ "$1" = --silent ]; do shift; done',
  // The sample invoice PDF: written where the README says, relative to a scratch directory here.
  '  if [ "$1" = invoice:sample-pdf ]; then shift; if [ "$1" = -- ]; then shift; fi; INIT_CWD="$README_SCRATCH" node -r "$README_TS_NODE" "$README_SAMPLE_PDF" "$@"; return; fi',
  '  if [ "$1" != reckon ]; then echo "README test: \'npm run $*\' is not run here" >&2; return 97; fi',
  '  shift',
  '  if [ "$1" = -- ]; then shift; fi',
  '  node "$README_CLI" "$@"',
  '}',
  'set -e -o pipefail -T',
  `trap 'if [ "$BASH_SUBSHELL" = 0 ] && [ -z "\${FUNCNAME[0]:-}" ] && [ "$BASH_SOURCE" = "$README_BLOCK" ]; then printf "\\n${MARKER} %s\\n" "$LINENO"; fi' DEBUG`,
  'source "$README_BLOCK"',
  'trap - DEBUG',
  'set +e',
  '{',
  '  for __readme_name in $(compgen -v); do',
  '    case "$__readme_initial" in *" $__readme_name "*) ;; *) case "$__readme_name" in __readme_* | BASH* | PIPESTATUS | _) ;; *) declare -p "$__readme_name" ;; esac ;; esac',
  '  done',
  '  declare -f',
  '} > "$README_STATE"',
].join('\n');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function run(command: string, args: string[], options: { env: Record<string, string>; input?: string; timeoutMs: number }): { done: Promise<Run>; stdout: () => string } {
  const child = spawn(command, args, { cwd: ROOT, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdin.end(options.input ?? '');
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  const done = new Promise<Run>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    }),
  );
  return { done, stdout: () => stdout };
}

/** Error codes a command's output holds, and whether it holds errors at all. */
function errorsIn(output: string): { any: boolean; codes: string[] } {
  const any = /"errors"\s*:\s*\[/.test(output) || /\{\s*"error"\s*:\s*"/.test(output) || /"type"\s*:\s*"urn:reckon:error:/.test(output);
  const codes = [...output.matchAll(/"code"\s*:\s*"([A-Z_]+)"/g)].map((match) => match[1]);
  return { any, codes };
}

/** The block line (1-based) a command that starts on `line` ends on: past its `\` continuation lines. */
function lastLineOfCommand(block: CodeBlock, line: number): number {
  let last = line;
  while (last < block.lines.length && /\\$/.test(block.lines[last - 1])) last += 1;
  return last;
}

/** The comment lines right under the command that starts on block line `line` (1-based), without their `#`. */
function commentLinesUnder(block: CodeBlock, line: number): string[] {
  const lines: string[] = [];
  for (let i = lastLineOfCommand(block, line); i < block.lines.length && block.lines[i].trim().startsWith('#'); i += 1) {
    lines.push(block.lines[i].trim().replace(/^# ?/, ''));
  }
  return lines;
}

/** The answer the README documents for the command on block line `line` (1-based): its comments. */
function documentedAnswer(block: CodeBlock, line: number): string {
  const lines = [block.lines[line - 1] ?? ''];
  for (let i = lastLineOfCommand(block, line); i < block.lines.length && block.lines[i].trim().startsWith('#'); i += 1) lines.push(block.lines[i]);
  return lines
    .map((text) => {
      const comment = text.indexOf('# ');
      return comment >= 0 ? text.slice(comment) : '';
    })
    .join('\n');
}

/**
 * A shown output line as a pattern: `…` stands for anything, the rest is literal, and the whole line
 * must match. A header's name (and value) match in any case, as HTTP has header names.
 */
function shownLinePattern(shown: string): RegExp {
  const source = shown
    .split('…')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*?');
  return new RegExp(`^${source}$`, /^[A-Za-z][A-Za-z0-9-]*: /.test(shown) ? 'i' : '');
}

/** The first shown line the output does not have, after the lines matched before it; null when it has them all. */
function missingShownLine(shown: string[], output: string): string | null {
  const lines = output.split('\n').map((text) => text.replace(/\r$/, ''));
  let from = 0;
  for (const line of shown) {
    const pattern = shownLinePattern(line);
    const found = lines.findIndex((text, index) => index >= from && pattern.test(text));
    if (found < 0) return line;
    from = found + 1;
  }
  return null;
}

/** Output split by the DEBUG trap's markers: what each command of the block (by block line) printed, in order. */
function outputByLine(stdout: string): { line: number; output: string }[] {
  const parts: { line: number; output: string }[] = [];
  let current = { line: 0, output: '' };
  for (const text of stdout.split('\n')) {
    const marker = new RegExp(`^${MARKER} (\\d+)$`).exec(text);
    if (marker) {
      parts.push(current);
      current = { line: Number(marker[1]), output: '' };
    } else {
      current.output += `${text}\n`;
    }
  }
  parts.push(current);
  return parts;
}

describe('README.md examples run against a fresh server [sqlite]', () => {
  let build: ServerBuild;
  let database: TestDatabase;
  let server: ChildServer;
  let env: Record<string, string>;
  let workDir: string;

  beforeAll(async () => {
    build = buildServer();
    database = await createTestDatabase('sqlite');
    const keys = await generateServerKeys();
    server = await startChildServer({ build, databaseUrl: database.url, keys, env: { SEED_DEMO_TENANT: 'true' } });
    // What Quickstart tells the reader to export, from what the first start printed.
    const printed = async (name: string): Promise<string> => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const found = server.lines.map((line) => new RegExp(`export ${name}=(\\S+)`).exec(line)).find(Boolean);
        if (found) return found[1];
        if (Date.now() > deadline) throw new Error(`The first start did not print "export ${name}=…":\n${server.lines.join('\n')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-readme-'));
    env = {
      PATH: process.env.PATH as string,
      HOME: workDir,
      LANG: 'C.UTF-8',
      RECKON_KEY: await printed('RECKON_KEY'),
      RECKON_GATEWAY: await printed('RECKON_GATEWAY'),
      RECKON_GATEWAY_SECRET: await printed('RECKON_GATEWAY_SECRET'),
      // The CLI runs against the server's database with the server's keys.
      DATABASE_URL: database.url,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      ...keys,
      README_CLI: path.join(path.dirname(build.mainPath), 'cli.js'),
      README_STATE: path.join(workDir, 'state.sh'),
      README_SCRATCH: workDir,
      README_TS_NODE: require.resolve('ts-node/register/transpile-only'),
      README_SAMPLE_PDF: path.join(ROOT, 'scripts/sample-invoice-pdf.ts'),
    };
  });

  afterAll(async () => {
    await server?.kill();
    await database?.drop();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('runs every shell and JavaScript example without an undocumented error', async () => {
    const blocks = readmeBlocks().filter((block) => block.lang === 'sh' || block.lang === 'js');
    expect(blocks.length).toBeGreaterThan(0);
    const address = `127.0.0.1:${server.port}`;
    const skipped: string[] = [];
    const failures: string[] = [];
    let pendingCount = 0;

    for (const block of blocks) {
      const where = (line: number) => `README.md:${block.firstLine + line - 1}`;
      const pending = PENDING_BLOCKS.find(({ contains }) => block.lines.some((text) => text.includes(contains)));
      if (pending) {
        skipped.push(`${where(1)}: the whole block  (${pending.why})`);
        pendingCount += 1;
        continue;
      }
      const lines = block.lines.map((text, index) => {
        const skip = SKIPPED_COMMANDS.find(({ prefix }) => text.trim().startsWith(prefix));
        if (!skip) return text.replaceAll('localhost:4000', address);
        skipped.push(`${where(index + 1)}: ${text.trim()}  (${skip.why})`);
        return `: skipped`;
      });

      if (block.lang === 'js') {
        failures.push(...(await runJavaScriptBlock(block, lines.join('\n'), where)));
        continue;
      }

      const blockFile = path.join(workDir, `block-${block.firstLine}.sh`);
      fs.writeFileSync(blockFile, `${lines.join('\n')}\n`);
      const result = await run('bash', ['-c', DRIVER], { env: { ...env, README_BLOCK: blockFile }, timeoutMs: 180_000 }).done;
      const parts = outputByLine(result.stdout);
      // The block's last command that started: where a block that stopped early stopped.
      const last = parts.filter((part) => part.line > 0).at(-1)?.line ?? 1;
      if (result.timedOut) failures.push(`${where(last)}: the block did not finish within 180 s`);
      else if (result.code !== 0) {
        const printed = parts.filter((part) => part.line === last).map((part) => part.output.trim()).join('\n');
        failures.push(`${where(last)}: exited ${result.code}: ${block.lines[last - 1]?.trim()}\n  stderr: ${result.stderr.trim()}\n  stdout: ${printed}`);
      }
      if (ANSWERS_SHOWN_IN.includes(block.section)) failures.push(...shownAnswerFailures(block, parts, where));
      for (const { line, output } of parts.filter((part) => part.line > 0 && part.output.trim() !== '')) {
        const found = errorsIn(output);
        const documented = errorsIn(documentedAnswer(block, line));
        if (found.any && (!documented.any || found.codes.some((code) => !documented.codes.includes(code)))) {
          failures.push(`${where(line)}: answered an error the README does not show there: ${block.lines[line - 1]?.trim()}\n  output: ${output.trim()}`);
        } else if (!found.any && documented.any) {
          failures.push(`${where(line)}: the README shows an error (${documented.codes.join(', ')}) but the command answered: ${output.trim()}`);
        }
      }
    }

    console.log(`README examples: ${blocks.length - pendingCount} blocks run; commands skipped:\n${skipped.map((line) => `  ${line}`).join('\n')}`);
    if (failures.length) throw new Error(`README examples that fail against the current code:\n\n${failures.join('\n\n')}`);
  });

  /**
   * Where a command's output differs from the lines the README shows under it (ANSWERS_SHOWN_IN). One
   * command may print under several markers (`curl … || [ $? = 28 ]` is two commands on one line).
   */
  function shownAnswerFailures(block: CodeBlock, parts: { line: number; output: string }[], where: (line: number) => string): string[] {
    const outputs = new Map<number, string>();
    for (const { line, output } of parts.filter((part) => part.line > 0)) outputs.set(line, (outputs.get(line) ?? '') + output);
    const failures: string[] = [];
    for (const [line, output] of outputs) {
      const shown = commentLinesUnder(block, line);
      const command = block.lines[line - 1]?.trim();
      if (shown.length === 0) {
        if (output.trim() !== '') failures.push(`${where(line)}: printed output the README does not show under it: ${command}\n  output: ${output.trim()}`);
        continue;
      }
      const missing = missingShownLine(shown, output);
      if (missing !== null) failures.push(`${where(line)}: the README shows "${missing}" under ${command}, but its output has no such line (in that order)\n  output: ${output.trim()}`);
    }
    return failures;
  }

  /** Runs a JavaScript example while journal entries are posted, until it exits by itself. */
  async function runJavaScriptBlock(block: CodeBlock, source: string, where: (line: number) => string): Promise<string[]> {
    const child = run(process.execPath, ['--input-type=module'], { env, input: source, timeoutMs: 60_000 });
    let finished = false;
    const result = child.done.then((outcome) => {
      finished = true;
      return outcome;
    });
    const [debitId, creditId] = await Promise.all(['a', 'b'].map((side) => createAccount(`9990-readme-js-${block.firstLine}-${side}`)));
    while (!finished) {
      await graphql(
        `mutation($input: PostJournalEntryInput!) { postJournalEntry(input: $input) { journalEntry { id } } }`,
        { input: { description: 'README js example', lines: [{ accountId: debitId, direction: 'DEBIT', amount: '1.00', currency: 'USD' }, { accountId: creditId, direction: 'CREDIT', amount: '1.00', currency: 'USD' }] } },
      );
      await Promise.race([result, new Promise((resolve) => setTimeout(resolve, 500))]);
    }
    const outcome = await result;
    const failures: string[] = [];
    if (outcome.timedOut) failures.push(`${where(1)}: the JavaScript example did not finish within 60 s\n  stdout: ${outcome.stdout.trim()}\n  stderr: ${outcome.stderr.trim()}`);
    else if (outcome.code !== 0) failures.push(`${where(1)}: the JavaScript example exited ${outcome.code}\n  stderr: ${outcome.stderr.trim()}`);
    else if (errorsIn(outcome.stdout).any || outcome.stdout.trim() === '') failures.push(`${where(1)}: the JavaScript example printed ${JSON.stringify(outcome.stdout.trim())}`);
    return failures;
  }

  async function graphql(query: string, variables: Record<string, unknown>): Promise<Record<string, unknown>> {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${env.RECKON_KEY}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
    if (body.errors?.length || !body.data) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
    return body.data;
  }

  async function createAccount(code: string): Promise<string> {
    const data = await graphql(`mutation($input: CreateAccountInput!) { createAccount(input: $input) { account { id } } }`, {
      input: { code, name: code, type: 'ASSET', currency: 'USD' },
    });
    return (data.createAccount as { account: { id: string } }).account.id;
  }
});
