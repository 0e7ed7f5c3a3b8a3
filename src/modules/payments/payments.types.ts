import { toBigInt } from '../../common/money';
import { fromDbTimestamp } from '../../common/timestamps';
import type { GatewayKind } from './gateways/payment-gateway';
import { type DisputeStatus, type PaymentState, type PaymentStatus, type PendingOperation, type RefundStatus } from './payment-state';

/** Plain records of the payments module, as the service reads and returns them. */

export interface PaymentGatewayRecord {
  id: string;
  tenantId: string;
  name: string;
  kind: GatewayKind;
  currencies: string[];
  createdAt: Date;
  disabledAt: Date | null;
}

export interface PaymentRecord extends PaymentState {
  tenantId: string;
  gatewayId: string;
  feeMinor: bigint;
  customerId: string | null;
  description: string | null;
  externalRef: string | null;
  metadata: Record<string, unknown> | null;
  gatewayPaymentId: string | null;
  cardBrand: string | null;
  cardLast4: string | null;
  authorizeKey: string;
  /** Hash of the authorization's input (see requestHashOf). */
  authorizeRequestHash: string;
  authorizationEntryId: string | null;
  pendingAmountMinor: bigint | null;
  pendingKey: string | null;
  pendingRequestHash: string | null;
  pendingSince: Date | null;
  failureCode: string | null;
  failureMessage: string | null;
  /** The invoice the payment pays (payInvoice), or null: its postings settle the receivable (posting-rules.ts). */
  invoiceId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface RefundRecord {
  id: string;
  tenantId: string;
  paymentId: string;
  status: RefundStatus;
  amountMinor: bigint;
  reason: string | null;
  gatewayKey: string;
  requestHash: string;
  gatewayRefundId: string | null;
  journalEntryId: string | null;
  failureCode: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface DisputeRecord {
  id: string;
  tenantId: string;
  paymentId: string;
  status: DisputeStatus;
  amountMinor: bigint;
  feeMinor: bigint;
  reason: string;
  evidence: string | null;
  gatewayDisputeId: string | null;
  evidenceSubmittedAt: Date | null;
  createdAt: Date;
  closedAt: Date | null;
}

/** What happened to a payment, in order: the timeline the API shows. */
export enum PaymentEventType {
  AUTHORIZATION_REQUESTED = 'AUTHORIZATION_REQUESTED',
  AUTHORIZED = 'AUTHORIZED',
  AUTHORIZATION_FAILED = 'AUTHORIZATION_FAILED',
  CAPTURE_REQUESTED = 'CAPTURE_REQUESTED',
  CAPTURED = 'CAPTURED',
  CAPTURE_FAILED = 'CAPTURE_FAILED',
  VOID_REQUESTED = 'VOID_REQUESTED',
  VOIDED = 'VOIDED',
  VOID_FAILED = 'VOID_FAILED',
  EXPIRED = 'EXPIRED',
  REFUND_REQUESTED = 'REFUND_REQUESTED',
  REFUNDED = 'REFUNDED',
  REFUND_FAILED = 'REFUND_FAILED',
  DISPUTE_OPENED = 'DISPUTE_OPENED',
  DISPUTE_EVIDENCE_SUBMITTED = 'DISPUTE_EVIDENCE_SUBMITTED',
  DISPUTE_WON = 'DISPUTE_WON',
  DISPUTE_LOST = 'DISPUTE_LOST',
}

/** Who caused an event: an API call, a signed gateway event, or Reckon itself (expiry, status checks). */
export enum PaymentEventSource {
  API = 'API',
  GATEWAY = 'GATEWAY',
  SYSTEM = 'SYSTEM',
}

export interface PaymentEventRecord {
  id: string;
  tenantId: string;
  paymentId: string;
  type: PaymentEventType;
  amountMinor: bigint | null;
  journalEntryIds: string[];
  refundId: string | null;
  disputeId: string | null;
  source: PaymentEventSource;
  detail: string | null;
  operationKey: string | null;
  requestHash: string | null;
  createdAt: Date;
}

export interface PayoutRecord {
  id: string;
  tenantId: string;
  gatewayId: string;
  amountMinor: bigint;
  currency: string;
  externalRef: string | null;
  journalEntryId: string;
  arrivedAt: Date;
  createdAt: Date;
}

const nullableText = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
const nullableDate = (value: unknown): Date | null => (value === null || value === undefined ? null : fromDbTimestamp(value));
const nullableMinor = (value: unknown): bigint | null => (value === null || value === undefined ? null : toBigInt(value));

export function gatewayFromRow(row: Record<string, unknown>): PaymentGatewayRecord {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    name: String(row.name),
    kind: row.kind as GatewayKind,
    currencies: String(row.currencies).split(' ').filter(Boolean),
    createdAt: fromDbTimestamp(row.created_at),
    disabledAt: nullableDate(row.disabled_at),
  };
}

export function paymentFromRow(row: Record<string, unknown>): PaymentRecord {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    gatewayId: String(row.gateway_id),
    status: row.status as PaymentStatus,
    currency: String(row.currency),
    authorizedMinor: toBigInt(row.authorized_minor),
    capturedMinor: toBigInt(row.captured_minor),
    refundedMinor: toBigInt(row.refunded_minor),
    refundPendingMinor: toBigInt(row.refund_pending_minor),
    disputedMinor: toBigInt(row.disputed_minor),
    disputeLostMinor: toBigInt(row.dispute_lost_minor),
    feeMinor: toBigInt(row.fee_minor),
    customerId: nullableText(row.customer_id),
    description: nullableText(row.description),
    externalRef: nullableText(row.external_ref),
    metadata: typeof row.metadata === 'string' ? (JSON.parse(row.metadata) as Record<string, unknown>) : null,
    gatewayPaymentId: nullableText(row.gateway_payment_id),
    cardBrand: nullableText(row.card_brand),
    cardLast4: nullableText(row.card_last4),
    authorizeKey: String(row.authorize_key),
    authorizeRequestHash: String(row.authorize_request_hash),
    authorizationEntryId: nullableText(row.authorization_entry_id),
    pendingOperation: (row.pending_operation ?? null) as PendingOperation | null,
    pendingAmountMinor: nullableMinor(row.pending_amount_minor),
    pendingKey: nullableText(row.pending_key),
    pendingRequestHash: nullableText(row.pending_request_hash),
    pendingSince: nullableDate(row.pending_since),
    failureCode: nullableText(row.failure_code),
    failureMessage: nullableText(row.failure_message),
    invoiceId: nullableText(row.invoice_id),
    expiresAt: fromDbTimestamp(row.expires_at),
    createdAt: fromDbTimestamp(row.created_at),
    updatedAt: fromDbTimestamp(row.updated_at),
  };
}

export function refundFromRow(row: Record<string, unknown>): RefundRecord {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    paymentId: String(row.payment_id),
    status: row.status as RefundStatus,
    amountMinor: toBigInt(row.amount_minor),
    reason: nullableText(row.reason),
    gatewayKey: String(row.gateway_key),
    requestHash: String(row.request_hash),
    gatewayRefundId: nullableText(row.gateway_refund_id),
    journalEntryId: nullableText(row.journal_entry_id),
    failureCode: nullableText(row.failure_code),
    createdAt: fromDbTimestamp(row.created_at),
    updatedAt: fromDbTimestamp(row.updated_at),
  };
}

export function disputeFromRow(row: Record<string, unknown>): DisputeRecord {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    paymentId: String(row.payment_id),
    status: row.status as DisputeStatus,
    amountMinor: toBigInt(row.amount_minor),
    feeMinor: toBigInt(row.fee_minor),
    reason: String(row.reason),
    evidence: nullableText(row.evidence),
    gatewayDisputeId: nullableText(row.gateway_dispute_id),
    evidenceSubmittedAt: nullableDate(row.evidence_submitted_at),
    createdAt: fromDbTimestamp(row.created_at),
    closedAt: nullableDate(row.closed_at),
  };
}

export function paymentEventFromRow(row: Record<string, unknown>): PaymentEventRecord {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    paymentId: String(row.payment_id),
    type: row.type as PaymentEventType,
    amountMinor: nullableMinor(row.amount_minor),
    journalEntryIds: row.journal_entry_ids ? String(row.journal_entry_ids).split(' ') : [],
    refundId: nullableText(row.refund_id),
    disputeId: nullableText(row.dispute_id),
    source: row.source as PaymentEventSource,
    detail: nullableText(row.detail),
    operationKey: nullableText(row.operation_key),
    requestHash: nullableText(row.request_hash),
    createdAt: fromDbTimestamp(row.created_at),
  };
}

export function payoutFromRow(row: Record<string, unknown>): PayoutRecord {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    gatewayId: String(row.gateway_id),
    amountMinor: toBigInt(row.amount_minor),
    currency: String(row.currency),
    externalRef: nullableText(row.external_ref),
    journalEntryId: String(row.journal_entry_id),
    arrivedAt: fromDbTimestamp(row.arrived_at),
    createdAt: fromDbTimestamp(row.created_at),
  };
}
