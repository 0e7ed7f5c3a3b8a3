import crypto from 'node:crypto';
import { toDbTimestamp } from '../../common/timestamps';
import type { AuditEventRecord } from './audit.types';

/** The previous hash of a chain's first event: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/** The version tag opening every canonical encoding: a later format gets a new tag, never a silent change. */
const ENCODING_VERSION = 'reckon-audit-v1';

/**
 * The canonical encoding an event's hash is taken over: a JSON array (RFC 8259, as JSON.stringify
 * writes it: no spaces, strings escaped the one way it escapes them) of, in this order, the version
 * tag, tenant id, sequence (a number), event id, time ("YYYY-MM-DD HH:MM:SS.mmm", UTC), actor kind,
 * actor credential id, origin IP, request id, kind, operation type, operation name, resource ids (an
 * array, sorted), outcome, error code, arguments digest, previous hash. Absent values are null. An
 * array of scalars has one JSON text, so the encoding needs no key-ordering rule.
 */
export function canonicalEncoding(event: Omit<AuditEventRecord, 'hash'>): string {
  return JSON.stringify([
    ENCODING_VERSION,
    event.tenantId,
    event.sequence,
    event.id,
    toDbTimestamp(event.occurredAt),
    event.actorKind,
    event.actorCredentialId,
    event.originIp,
    event.requestId,
    event.kind,
    event.operationType,
    event.operationName,
    [...event.resourceIds].sort(),
    event.outcome,
    event.errorCode,
    event.argumentsDigest,
    event.previousHash,
  ]);
}

/** SHA-256 of the canonical encoding (UTF-8), lower-case hex. */
export function hashOfEvent(event: Omit<AuditEventRecord, 'hash'>): string {
  return crypto.createHash('sha256').update(canonicalEncoding(event), 'utf8').digest('hex');
}
