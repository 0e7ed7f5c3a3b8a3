/**
 * What Reckon asks of a payment gateway, and what a gateway may answer. Adapters (the built-in
 * simulator, the generic HTTP adapter) translate this into their own protocol; the payments service
 * never sees anything gateway-specific.
 *
 * Every call carries an idempotency key that Reckon derives from the operation (the client's own
 * idempotency key when it gave one): sending the same call again with the same key must never charge,
 * capture or refund twice. That is what makes a retry after a timeout safe.
 */

export enum GatewayKind {
  /** Built in and deterministic: its behaviour is chosen by the payment token (see SIMULATOR_TOKENS). */
  SIMULATOR = 'SIMULATOR',
  /** A generic JSON-over-HTTP gateway (see http-gateway.ts for the protocol). */
  HTTP = 'HTTP',
}

/** Why a gateway refused. Stable values, shown to API clients in `details.declineCode`. */
export enum DeclineCode {
  INSUFFICIENT_FUNDS = 'INSUFFICIENT_FUNDS',
  EXPIRED_CARD = 'EXPIRED_CARD',
  FRAUD_SUSPECTED = 'FRAUD_SUSPECTED',
  DO_NOT_HONOR = 'DO_NOT_HONOR',
  /** The gateway refused the request itself (a 4xx other than a decline): definitely not done. */
  GATEWAY_REJECTED = 'GATEWAY_REJECTED',
}

export interface GatewayCard {
  brand: string;
  /** The last four digits only; Reckon never receives or keeps a card number. */
  last4: string;
}

/**
 * The answer to one gateway call:
 * - `succeeded`: done, exactly once whatever the number of attempts with this key;
 * - `declined`: definitely not done;
 * - `unknown`: timed out, the connection dropped, or the gateway failed (5xx): it may or may not have
 *   happened. Only a call with the same key, or a status check, can tell.
 */
export type GatewayOutcome<T> =
  | { kind: 'succeeded'; value: T }
  | { kind: 'declined'; declineCode: DeclineCode; message: string }
  | { kind: 'unknown'; reason: string };

export interface AuthorizeRequest {
  idempotencyKey: string;
  amountMinor: bigint;
  currency: string;
  /** The gateway's token for the card (from its client-side SDK); never a card number. */
  paymentToken: string;
  /** Reckon's payment id, for the gateway's records. */
  reference: string;
}

export interface Authorization {
  /** The gateway's id of the authorization; later calls and inbound events name it. */
  gatewayPaymentId: string;
  card: GatewayCard | null;
}

export interface CaptureRequest {
  idempotencyKey: string;
  gatewayPaymentId: string;
  amountMinor: bigint;
  currency: string;
}

export interface Capture {
  /** The gateway's processing fee for this capture, in the payment's currency's minor units. */
  feeMinor: bigint;
  /**
   * Events the gateway will report later about this payment (the simulator's "approve then dispute").
   * A real gateway sends them as signed webhooks instead; the payments service applies these the same way.
   */
  laterEvents?: GatewayEvent[];
}

export interface VoidRequest {
  idempotencyKey: string;
  gatewayPaymentId: string;
}

export interface RefundRequest {
  idempotencyKey: string;
  gatewayPaymentId: string;
  amountMinor: bigint;
  currency: string;
}

export interface GatewayRefund {
  gatewayRefundId: string;
}

export type GatewayOperation = 'authorize' | 'capture' | 'void' | 'refund';

export interface StatusRequest {
  /** The key the operation was (or may have been) sent with. */
  idempotencyKey: string;
  operation: GatewayOperation;
}

/** What a status check learnt about one operation. */
export type OperationStatus =
  | { kind: 'succeeded'; authorization?: Authorization; capture?: Capture; refund?: GatewayRefund }
  | { kind: 'declined'; declineCode: DeclineCode; message: string }
  /** The gateway has no operation with this key: it never arrived, and nothing happened. */
  | { kind: 'not_found' }
  | { kind: 'unknown'; reason: string };

/** An event a gateway reports on its own: disputes, mostly. Amounts in minor units. */
export interface GatewayEvent {
  /** The gateway's event id: events are applied once per (gateway, id). */
  id: string;
  type: GatewayEventType;
  gatewayPaymentId: string;
  /** The gateway's id of the dispute, for dispute events. */
  gatewayDisputeId?: string;
  amountMinor?: bigint;
  /** Dispute fee charged by the gateway when the dispute opens. */
  feeMinor?: bigint;
  reason?: string;
}

export type GatewayEventType = 'dispute.opened' | 'dispute.won' | 'dispute.lost';
export const GATEWAY_EVENT_TYPES: readonly GatewayEventType[] = ['dispute.opened', 'dispute.won', 'dispute.lost'];

export interface PaymentGateway {
  readonly kind: GatewayKind;
  authorize(request: AuthorizeRequest): Promise<GatewayOutcome<Authorization>>;
  capture(request: CaptureRequest): Promise<GatewayOutcome<Capture>>;
  void(request: VoidRequest): Promise<GatewayOutcome<Record<string, never>>>;
  refund(request: RefundRequest): Promise<GatewayOutcome<GatewayRefund>>;
  fetchStatus(request: StatusRequest): Promise<OperationStatus>;
}

/** What a gateway row's encrypted credentials hold, per kind. */
export type GatewayCredentials =
  | { kind: GatewayKind.SIMULATOR }
  | {
      kind: GatewayKind.HTTP;
      /** The gateway's API root, e.g. https://gateway.example/v1 (no trailing slash needed). */
      baseUrl: string;
      /** Sent as `Authorization: Bearer <apiSecret>`. */
      apiSecret: string;
      /** Per attempt, connection and answer included. */
      timeoutMs: number;
    };
