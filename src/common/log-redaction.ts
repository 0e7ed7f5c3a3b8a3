/**
 * What keeps secrets and card numbers out of the logs. Two layers, both installed by createLogger
 * (src/bootstrap.ts):
 *
 * - By name: pino's `redact` censors the values of keys that hold secrets (LOG_REDACT_PATHS), at the
 *   top of a log object and one level down, whatever the value looks like.
 * - By shape: every finished line is scanned (scrubLogLine) for what a secret or a card number looks
 *   like, wherever it ended up: an error message that echoes an input, a client's X-Request-Id or
 *   operation name, a driver error quoting a row. Reckon's own secrets carry a type prefix so that
 *   they can be recognised: API keys `rk_<12 id chars>_<46>` (the `rk_<12>` prefix is public and kept),
 *   OAuth client secrets `rcs_`, webhook signing secrets `whsec_`, gateway webhook secrets `gwsec_`,
 *   bank notification secrets `bnsec_`. Access tokens are JWTs (`eyJ….….…`). Credentials after
 *   `Bearer` or `Basic` go too, and so does any run of 13 to 19 digits (spaces or dashes allowed
 *   between them) that passes the Luhn check, as a card number would.
 *
 * What is never logged in the first place: request headers, query strings, GraphQL variables and
 * response bodies (see src/server/access-log.ts). The layers above are for what slips through anyway.
 */

/** Keys whose values are secrets whatever they look like (pino redact paths, top level and one down). */
export const SENSITIVE_LOG_KEYS: readonly string[] = [
  'authorization',
  'Authorization',
  'cookie',
  'password',
  'secret',
  'clientSecret',
  'client_secret',
  'apiKey',
  'api_key',
  'apiSecret',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'paymentToken',
  'signingSecret',
  'notificationSecret',
  'webhookSecret',
  'cardNumber',
  'pan',
  'cvc',
  'cvv',
  // GraphQL variables and driver parameters carry user input in bulk: never logged.
  'variables',
  'parameters',
];

export const LOG_REDACT_PATHS: readonly string[] = [
  ...SENSITIVE_LOG_KEYS,
  ...SENSITIVE_LOG_KEYS.map((key) => `*.${key}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
];

export const REDACTED = '[Redacted]';

const SHAPED_SECRETS: readonly [RegExp, string][] = [
  // An API key: its public prefix (shown in listings, stored in clear) stays, for the operator.
  [/(?<![0-9A-Za-z])(rk_[0-9A-Za-z]{12})_[0-9A-Za-z]{20,}/g, `$1_${REDACTED}`],
  [/(?<![0-9A-Za-z])(rk|rcs|whsec|gwsec|bnsec)_[0-9A-Za-z_-]{16,}/g, `$1_${REDACTED}`],
  // A JWT (an access token): base64url header starting {" , payload, signature.
  [/eyJ[0-9A-Za-z_-]{4,}\.[0-9A-Za-z_-]{4,}\.[0-9A-Za-z_-]*/g, REDACTED],
  [/\b(Bearer|Basic)\s+[0-9A-Za-z._~+/=-]+/gi, `$1 ${REDACTED}`],
];

/** Digits with at most one space or dash between two of them: how card numbers are written. */
const DIGIT_RUN = /(?<![0-9])[0-9](?:[ -]?[0-9])*/g;
const MIN_PAN_DIGITS = 13;
const MAX_PAN_DIGITS = 19;
const MAX_CHECKED_DIGITS = 64;

/** The Luhn check (ISO/IEC 7812-1) over a string of digits. */
export function isLuhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i += 1) {
    let digit = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/**
 * True when some 13 to 19 consecutive digits of `digits` pass the Luhn check: a card number glued to
 * other digits (a PAN and its expiry date in one memo) is still found.
 */
export function holdsCardNumber(digits: string): boolean {
  if (digits.length < MIN_PAN_DIGITS) return false;
  // Past this, checking every window costs more than the line is worth: such a run is redacted whole.
  if (digits.length > MAX_CHECKED_DIGITS) return true;
  for (let length = MIN_PAN_DIGITS; length <= Math.min(MAX_PAN_DIGITS, digits.length); length += 1) {
    for (let start = 0; start + length <= digits.length; start += 1) {
      if (isLuhnValid(digits.slice(start, start + length))) return true;
    }
  }
  return false;
}

/** `text` with every secret-shaped value and card-number-like digit run replaced by [Redacted]. */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SHAPED_SECRETS) out = out.replace(pattern, replacement);
  return out.replace(DIGIT_RUN, (run) => (holdsCardNumber(run.replace(/[ -]/g, '')) ? REDACTED : run));
}

/**
 * One finished JSON log line with secrets removed, still valid JSON: the contents of every string are
 * scrubbed (the replacement holds no quote or backslash), and a bare number long enough to be a card
 * number that passes the check becomes the string "[Redacted]".
 */
export function scrubLogLine(line: string): string {
  let out = '';
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      out += `"${scrubSecrets(line.slice(i + 1, j))}"`;
      i = j + 1;
    } else if ((c >= '0' && c <= '9') || c === '-') {
      let j = i + 1;
      while (j < line.length && /[0-9.eE+-]/.test(line[j])) j += 1;
      const token = line.slice(i, j);
      out += holdsCardNumber(token.replace(/[^0-9]/g, '')) ? `"${REDACTED}"` : token;
      i = j;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}
