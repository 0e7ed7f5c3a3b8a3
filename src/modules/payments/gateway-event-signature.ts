import { validationError } from '../../common/errors';
import { MAX_MINOR_UNITS } from '../../common/money';
import { GATEWAY_EVENT_TYPES, type GatewayEvent, type GatewayEventType } from './gateways/payment-gateway';
import { echoOfInput } from '../../common/echo';

/**
 * How a gateway signs the events it sends to `POST /webhooks/gateways/:gatewayId`: the scheme of
 * src/common/request-signature.ts, with the `gwsec_…` secret the `createGateway` mutation returned
 * once. The names below are that scheme's, under the names the gateway code has always used.
 */
export {
  SIGNATURE_HEADER as GATEWAY_SIGNATURE_HEADER,
  SIGNATURE_TOLERANCE_SECONDS as GATEWAY_SIGNATURE_TOLERANCE_SECONDS,
  type SignatureRefusal as GatewaySignatureRefusal,
  type SignatureVerdict as GatewaySignatureVerdict,
  signRequestBody as signGatewayEvent,
  verifyRequestSignature as verifyGatewayEventSignature,
} from '../../common/request-signature';

// ---------------------------------------------------------------------------------------------
// The body

const EVENT_ID_MAX_LENGTH = 191;
/** The gateway's ids are stored in 255-character columns (payments.gateway_payment_id, disputes.gateway_dispute_id). */
const GATEWAY_REFERENCE_MAX_LENGTH = 255;
const REASON_MAX_LENGTH = 500;
/** Printable ASCII, neither beginning nor ending with a space: ids are compared byte for byte. */
const IDENTIFIER_PATTERN = /^[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?$/;
const DIGITS_PATTERN = /^\d{1,20}$/;
/** C0 and C1 control characters, DEL included: a reason is shown in dashboards and written to logs. */
const CONTROL_CHARACTERS = /\p{Cc}/u;

const EVENT_FIELDS = new Set(['id', 'type', 'data']);
const DATA_FIELDS = new Set(['gatewayPaymentId', 'gatewayDisputeId', 'amountMinor', 'feeMinor', 'reason']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Unknown fields are refused rather than skipped: a misspelt `amount_minor` skipped would open a
 * dispute for the whole payment instead of the amount the gateway meant.
 */
function refuseUnknownFields(object: Record<string, unknown>, known: Set<string>, prefix: string): void {
  const unknown = Object.keys(object).find((key) => !known.has(key));
  if (unknown !== undefined) {
    const field = `${prefix}${echoOfInput(unknown)}`;
    throw validationError(`${field} is not a field of a gateway event`, { field });
  }
}

function requireIdentifier(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== 'string') throw validationError(`${field} must be a string`, { field });
  if (value.length === 0 || value.length > maxLength) throw validationError(`${field} must be 1 to ${maxLength} characters`, { field, maxLength });
  if (!IDENTIFIER_PATTERN.test(value)) {
    throw validationError(`${field} may hold only printable ASCII characters, and must not begin or end with a space`, { field });
  }
  return value;
}

/**
 * An amount in minor units, as a string of digits or as a JSON number. A number is taken only while
 * it is a safe integer: past 2^53 JSON.parse has already rounded it, and a rounded amount is wrong.
 */
function requireMinorUnits(value: unknown, field: string, minimum: bigint): bigint {
  let minor: bigint;
  if (typeof value === 'string') {
    if (!DIGITS_PATTERN.test(value)) throw validationError(`${field} must be a whole number of minor units, such as "1250"`, { field });
    minor = BigInt(value);
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw validationError(`${field} must be a whole number of minor units; send amounts past 2^53 as a string of digits`, { field });
    }
    minor = BigInt(value);
  } else {
    throw validationError(`${field} must be a string of digits or an integer`, { field });
  }
  if (minor < minimum) throw validationError(`${field} must be at least ${minimum}`, { field, minimum: minimum.toString() });
  if (minor > MAX_MINOR_UNITS) throw validationError(`${field} is out of range: at most ${MAX_MINOR_UNITS} minor units`, { field });
  return minor;
}

function requireReason(value: unknown, field: string): string {
  if (typeof value !== 'string') throw validationError(`${field} must be a string`, { field });
  if (value.trim().length === 0) throw validationError(`${field} must not be empty`, { field });
  if (value.length > REASON_MAX_LENGTH) throw validationError(`${field} is longer than ${REASON_MAX_LENGTH} characters`, { field, maxLength: REASON_MAX_LENGTH });
  if (CONTROL_CHARACTERS.test(value)) throw validationError(`${field} must not contain control characters`, { field });
  return value;
}

/**
 * Reads the JSON body of a signed gateway event:
 *
 *     { "id": "evt_…", "type": "dispute.opened" | "dispute.won" | "dispute.lost",
 *       "data": { "gatewayPaymentId": "…", "gatewayDisputeId": "…", "amountMinor": "1250", "feeMinor": 1500, "reason": "…" } }
 *
 * Amounts are minor units of the payment's currency. `gatewayDisputeId` is required to close a dispute
 * (won, lost), since that is how the dispute is found; an event that could never apply is refused here,
 * where the gateway sees why, rather than recorded as ignored under its id for good.
 * Throws VALIDATION_FAILED, naming the field, on anything else.
 */
export function parseGatewayEventBody(json: unknown): GatewayEvent {
  if (!isPlainObject(json)) throw validationError('the body must be a JSON object', { field: 'body' });
  refuseUnknownFields(json, EVENT_FIELDS, '');
  const id = requireIdentifier(json.id, 'id', EVENT_ID_MAX_LENGTH);
  if (typeof json.type !== 'string' || !(GATEWAY_EVENT_TYPES as readonly string[]).includes(json.type)) {
    throw validationError(`type must be one of ${GATEWAY_EVENT_TYPES.join(', ')}`, { field: 'type', allowed: [...GATEWAY_EVENT_TYPES] });
  }
  const type = json.type as GatewayEventType;
  const data = json.data;
  if (!isPlainObject(data)) throw validationError('data must be a JSON object', { field: 'data' });
  refuseUnknownFields(data, DATA_FIELDS, 'data.');

  const event: GatewayEvent = { id, type, gatewayPaymentId: requireIdentifier(data.gatewayPaymentId, 'data.gatewayPaymentId', GATEWAY_REFERENCE_MAX_LENGTH) };
  // An optional field sent as null is taken as absent, as most JSON encoders write a missing value.
  const given = (field: string) => data[field] !== undefined && data[field] !== null;
  if (given('gatewayDisputeId')) {
    event.gatewayDisputeId = requireIdentifier(data.gatewayDisputeId, 'data.gatewayDisputeId', GATEWAY_REFERENCE_MAX_LENGTH);
  } else if (type !== 'dispute.opened') {
    throw validationError(`data.gatewayDisputeId is required for ${type}`, { field: 'data.gatewayDisputeId' });
  }
  if (given('amountMinor')) event.amountMinor = requireMinorUnits(data.amountMinor, 'data.amountMinor', 1n);
  if (given('feeMinor')) event.feeMinor = requireMinorUnits(data.feeMinor, 'data.feeMinor', 0n);
  if (given('reason')) event.reason = requireReason(data.reason, 'data.reason');
  return event;
}
