import { ECHO_MAX_CHARS, echoOfInput, withShortEchoes } from '../../src/common/echo';

describe('echoOfInput: at most 64 characters of a client value, marked when cut', () => {
  it('keeps a short value as it is and cuts a long one to 64 characters ending in …', () => {
    expect(echoOfInput('12.34')).toBe('12.34');
    expect(echoOfInput('x'.repeat(64))).toBe('x'.repeat(64));
    expect(echoOfInput('x'.repeat(100_000))).toBe(`${'x'.repeat(63)}…`);
  });

  it('shows other values as JSON, cut the same way', () => {
    expect(echoOfInput(12.5)).toBe('12.5');
    expect(echoOfInput(['a'])).toBe('["a"]');
    expect(echoOfInput({ a: 'b'.repeat(1000) })).toHaveLength(ECHO_MAX_CHARS);
  });

  it('never splits a surrogate pair', () => {
    const echo = echoOfInput(`${'x'.repeat(62)}😀${'y'.repeat(10)}`);
    expect(echo).toBe(`${'x'.repeat(62)}…`);
    expect(JSON.stringify(echo)).not.toMatch(/\\ud/);
  });
});

describe('withShortEchoes: the values a library quotes in its message, cut', () => {
  it('cuts each long quoted value of a graphql-js coercion message and keeps the rest', () => {
    const message = `Variable "$input" got invalid value "${'Q'.repeat(100_000)}" at "input.lines[0].currency"; Unknown currency "${'Q'.repeat(100_000)}"`;
    expect(withShortEchoes(message)).toBe(
      `Variable "$input" got invalid value "${'Q'.repeat(63)}…" at "input.lines[0].currency"; Unknown currency "${'Q'.repeat(63)}…"`,
    );
  });

  it('keeps JSON escapes whole and cuts a long unquoted token', () => {
    expect(withShortEchoes(`got "${'\\"'.repeat(100)}"`)).toBe(`got ${JSON.stringify(`${'"'.repeat(63)}…`)}`);
    expect(withShortEchoes(`Syntax Error: Unexpected ${'n'.repeat(500)}.`)).toBe(`Syntax Error: Unexpected ${'n'.repeat(63)}…`);
  });
});
