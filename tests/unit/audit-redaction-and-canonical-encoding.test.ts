import { canonicalEncoding, GENESIS_HASH, hashOfEvent } from '../../src/modules/audit/audit-chain';
import { argumentsDigestOf, isSensitiveKey, REDACTED, redactArguments, resourceIdsOf } from '../../src/modules/audit/audit-redaction';
import { AuditActorKind, AuditEventKind, type AuditEventRecord, AuditOperationType, AuditOutcome } from '../../src/modules/audit/audit.types';

/** The one redaction rule of the audit trail, and the canonical encoding its hashes are taken over. */

const API_KEY = 'rk_AbCdEfGhIjKl_0123456789abcdefghij0123456789ABCDEFGHIJaB3dE9';
const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjbGlfMDEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
const CARD = '4111 1111 1111 1111';

describe('audit redaction', () => {
  it.each([
    ['paymentToken', true],
    ['signingSecret', true],
    ['notificationSecret', true],
    ['clientSecret', true],
    ['webhookSecret', true],
    ['password', true],
    ['cardNumber', true],
    ['cvc', true],
    ['iban', true],
    ['accountNumber', true],
    ['authorization', true],
    ['privateKey', true],
    ['apiKeyId', false],
    ['paymentId', false],
    ['tokenIds', false],
    ['amount', false],
    ['description', false],
  ])('%s is sensitive: %s', (key, sensitive) => {
    expect(isSensitiveKey(key)).toBe(sensitive);
  });

  it('replaces sensitive keys at any depth, and credential- or card-shaped values under any key', () => {
    const redacted = redactArguments({
      input: { amount: '12.50', paymentToken: 'tok_approve', card: { number: CARD }, metadata: { note: CARD, key: API_KEY, bearer: JWT } },
      idempotencyKey: 'abc-12345',
    });
    expect(redacted).toEqual({
      idempotencyKey: 'abc-12345',
      input: { amount: '12.50', card: REDACTED, metadata: { bearer: REDACTED, key: REDACTED, note: REDACTED }, paymentToken: REDACTED },
    });
    expect(JSON.stringify(redacted)).not.toMatch(/tok_approve|4111|rk_AbCd|eyJ/);
  });

  it('digests arguments so that a secret changes nothing and anything else changes the digest', () => {
    const base = { input: { url: 'https://example.com/hook', secret: 'one' }, idempotencyKey: 'k-1234567' };
    expect(argumentsDigestOf(base)).toBe(argumentsDigestOf({ idempotencyKey: 'k-1234567', input: { secret: 'two', url: 'https://example.com/hook' } }));
    expect(argumentsDigestOf(base)).not.toBe(argumentsDigestOf({ ...base, input: { ...base.input, url: 'https://example.com/other' } }));
    expect(argumentsDigestOf({ amount: 10n })).toMatch(/^[0-9a-f]{64}$/);
  });

  it('collects well-formed ids, not the tenant’s own, not under sensitive keys, and never reads getters', () => {
    const payload = {
      payment: { id: 'pay_01HZX3K8Q9V7W6T5S4R3P2N1M0', tenantId: 'ten_01HZX3K8Q9V7W6T5S4R3P2N1M0', amount: 'acct_not_an_id' },
      notificationSecret: 'bac_01HZX3K8Q9V7W6T5S4R3P2N1M0',
    };
    Object.defineProperty(payload, 'totalCount', { enumerable: true, get: () => { throw new Error('a getter ran'); } });
    expect([...resourceIdsOf(payload)]).toEqual(['pay_01HZX3K8Q9V7W6T5S4R3P2N1M0']);
  });
});

describe('audit canonical encoding', () => {
  const event: Omit<AuditEventRecord, 'hash'> = {
    tenantId: 'ten_01HZX3K8Q9V7W6T5S4R3P2N1M0',
    sequence: 1,
    id: 'aud_01HZX3K8Q9V7W6T5S4R3P2N1M0',
    occurredAt: new Date('2026-12-07T08:00:00.123Z'),
    actorKind: AuditActorKind.API_KEY,
    actorCredentialId: 'key_01HZX3K8Q9V7W6T5S4R3P2N1M0',
    originIp: '127.0.0.1',
    requestId: 'req-1',
    kind: AuditEventKind.MUTATION,
    operationType: AuditOperationType.MUTATION,
    operationName: 'createAccount',
    resourceIds: ['inv_01HZX3K8Q9V7W6T5S4R3P2N1M0', 'acct_01HZX3K8Q9V7W6T5S4R3P2N1M0'],
    outcome: AuditOutcome.SUCCESS,
    errorCode: null,
    argumentsDigest: 'a'.repeat(64),
    previousHash: GENESIS_HASH,
  };

  it('is a JSON array in the documented order, resource ids sorted', () => {
    expect(canonicalEncoding(event)).toBe(
      '["reckon-audit-v1","ten_01HZX3K8Q9V7W6T5S4R3P2N1M0",1,"aud_01HZX3K8Q9V7W6T5S4R3P2N1M0","2026-12-07 08:00:00.123","API_KEY",' +
        '"key_01HZX3K8Q9V7W6T5S4R3P2N1M0","127.0.0.1","req-1","MUTATION","MUTATION","createAccount",' +
        `["acct_01HZX3K8Q9V7W6T5S4R3P2N1M0","inv_01HZX3K8Q9V7W6T5S4R3P2N1M0"],"SUCCESS",null,"${'a'.repeat(64)}","${GENESIS_HASH}"]`,
    );
  });

  it('changes the hash when any field changes', () => {
    const hash = hashOfEvent(event);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    for (const change of [{ sequence: 2 }, { outcome: AuditOutcome.ERROR }, { previousHash: 'b'.repeat(64) }, { originIp: null }, { resourceIds: [] }]) {
      expect(hashOfEvent({ ...event, ...change })).not.toBe(hash);
    }
  });
});
