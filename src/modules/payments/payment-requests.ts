import { METADATA_MAX_BYTES } from '../../common/input';
import type { PaymentStatus } from './payment-state';
import type { DisputeRecord, PaymentRecord, RefundRecord } from './payments.types';

/** What the payments module's use cases take and answer (the GraphQL inputs are mapped onto these). */

/** Bounds on what one request may ask (TigerBeetle style: everything has a limit). */
export const PAYMENT_LIMITS = {
  paymentTokenLength: 255,
  customerIdLength: 255,
  descriptionLength: 500,
  externalRefLength: 255,
  reasonLength: 500,
  evidenceLength: 20_000,
  metadataBytes: METADATA_MAX_BYTES,
} as const;

export interface AuthorizePaymentInput {
  amount: string;
  currency: string;
  paymentToken: string;
  gatewayId?: string | null;
  /** Capture the full amount as soon as it is authorized. */
  capture?: boolean | null;
  customerId?: string | null;
  description?: string | null;
  externalRef?: string | null;
  metadata?: Record<string, unknown> | null;
  /** The invoice this payment pays (payInvoice only; not a field of authorizePayment). */
  invoiceId?: string | null;
}

export interface RefundPaymentInput {
  /** Omitted: everything still refundable. */
  amount?: string | null;
  reason?: string | null;
}

export interface OpenDisputeInput {
  /** Omitted: everything still disputable. */
  amount?: string | null;
  reason: string;
  /** The gateway's dispute fee, if it charged one. */
  fee?: string | null;
}

export interface RecordPayoutInput {
  gatewayId: string;
  amount: string;
  currency: string;
  arrivedAt?: Date | null;
  externalRef?: string | null;
}

export interface PaymentFilter {
  status?: PaymentStatus | null;
  customerId?: string | null;
  gatewayId?: string | null;
  createdFrom?: Date | null;
  createdTo?: Date | null;
}

export interface PaymentsOptions {
  authorizationTtlMs: number;
  /** Unsettled gateway operations older than this are asked about (see PAYMENT_STATUS_CHECK_AFTER). */
  statusCheckAfterMs: number;
  gatewayRetry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
}

/** What the inbound event route answers: applied, already seen, or recorded and ignored (and why). */
export type GatewayEventResult = { status: 'applied'; paymentId: string } | { status: 'duplicate' } | { status: 'ignored'; reason: string };

export type RefundResult = { payment: PaymentRecord; refund: RefundRecord };
export type DisputeResult = { payment: PaymentRecord; dispute: DisputeRecord };
