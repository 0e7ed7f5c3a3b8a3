/** An error shows at most this many characters of a value the client sent. */
export const ECHO_MAX_CHARS = 64;

/**
 * A client's value as an error may show it, in its message or its details: strings as they are,
 * anything else as JSON, cut to ECHO_MAX_CHARS characters with "…" as the last one when longer. A
 * refused 100 kB amount must not come back as a 200 kB error, nor a hostile string be mirrored whole.
 */
export function echoOfInput(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'bigint') text = value.toString();
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  if (text.length <= ECHO_MAX_CHARS) return text;
  let end = ECHO_MAX_CHARS - 1;
  // Never split a surrogate pair: a lone half would turn into an escape sequence in the JSON answer.
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

const QUOTED = /"(?:[^"\\]|\\.)*"/g;
const LONG_UNQUOTED_RUN = new RegExp(`[^\\s"]{${ECHO_MAX_CHARS + 1},}`, 'g');

function shortenedQuote(quoted: string): string {
  if (quoted.length <= ECHO_MAX_CHARS + 2) return quoted;
  try {
    return JSON.stringify(echoOfInput(JSON.parse(quoted) as string));
  } catch {
    return `"${echoOfInput(quoted.slice(1, -1))}"`;
  }
}

/**
 * A message written by a library, with every value it quotes cut as echoOfInput cuts ours: graphql-js
 * puts the whole bad variable in its coercion message (`Variable "$input" got invalid value "…"`), and
 * its parser the whole unexpected token.
 */
export function withShortEchoes(message: string): string {
  if (message.length <= ECHO_MAX_CHARS) return message;
  return message.replace(QUOTED, shortenedQuote).replace(LONG_UNQUOTED_RUN, (run) => echoOfInput(run));
}
