import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CompactSign, compactVerify, importJWK, type JWK } from 'jose';
import type { Logger } from 'pino';
import type { Clock } from '../../common/clock';
import { toDbTimestamp } from '../../common/timestamps';
import { runInTransaction } from '../../db/transaction';
import { hashOfEvent } from './audit-chain';
import { type AuditService, recordOf } from './audit.service';
import type { AuditEventRecord } from './audit.types';

export interface AuditRetentionOptions {
  retentionDays: number;
  archiveDir: string;
  /** The server's JWT signing key (the first of JWT_SIGNING_KEYS): archives verify against /.well-known/jwks.json. */
  signingKey: JWK;
  log?: Logger;
}

/** What the signature file signs: enough to check the archive and to chain it to its neighbours. */
export interface AuditArchiveManifest {
  format: 'reckon-audit-archive-v1';
  tenantId: string;
  fromSequence: number;
  toSequence: number;
  count: number;
  /** previousHash of the first event: the boundary hash of the archive before (64 zeros for the first). */
  firstPreviousHash: string;
  /** hash of the last event: what the first event kept in the database chains to. */
  lastHash: string;
  /** SHA-256 (hex) of the .jsonl file's bytes. */
  sha256: string;
  file: string;
  createdAt: string;
}

export interface AuditArchiveWritten {
  tenantId: string;
  fromSequence: number;
  toSequence: number;
  file: string;
  signatureFile: string;
}

/** Events archived per file (and per pruning transaction). */
const ARCHIVE_BATCH = 10_000;
const DAY_MS = 86_400_000;

/** One event as an archive line: the stored columns, time as stored, so the line rehashes to its hash. */
function lineOf(record: AuditEventRecord): string {
  return JSON.stringify({ ...record, occurredAt: toDbTimestamp(record.occurredAt) });
}

/**
 * The retention job (README, Audit): for each chain, the oldest events past AUDIT_RETENTION_DAYS, in
 * sequence order, are checked (their chain must be intact), written as JSON lines to
 * AUDIT_ARCHIVE_DIR/<tenant>/ with a detached JWS signature (`.jsonl.sig`, signed with the server's
 * JWT signing key over the manifest, which names the file's SHA-256), and only then pruned. Pruning
 * first raises the chain head's archived_through_sequence, the watermark below which the DELETE
 * trigger lets rows go, and stores the last archived hash, which the first kept event chains to.
 */
export class AuditRetention {
  constructor(
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly options: AuditRetentionOptions,
  ) {}

  async run(): Promise<AuditArchiveWritten[]> {
    const cutoff = toDbTimestamp(new Date(this.clock.now().getTime() - this.options.retentionDays * DAY_MS));
    const { dataSource } = this.audit.database;
    const chains: { tenant_id: string }[] = await dataSource.query(
      `SELECT h.tenant_id FROM audit_chain_heads h
        WHERE EXISTS (SELECT 1 FROM audit_events e WHERE e.tenant_id = h.tenant_id AND e.sequence = h.archived_through_sequence + 1 AND e.occurred_at < ?)`,
      [cutoff],
    );
    const written: AuditArchiveWritten[] = [];
    for (const { tenant_id: tenantId } of chains) {
      for (;;) {
        const archive = await this.archiveOnce(String(tenantId), cutoff);
        if (!archive) break;
        written.push(archive);
      }
    }
    return written;
  }

  private async archiveOnce(tenantId: string, cutoff: string): Promise<AuditArchiveWritten | null> {
    const { dataSource, forUpdate } = this.audit.database;
    const head = await this.audit.head(tenantId);
    if (!head) return null;
    const rows: Record<string, unknown>[] = await dataSource.query(
      `SELECT * FROM audit_events WHERE tenant_id = ? AND sequence > ? ORDER BY sequence LIMIT ${ARCHIVE_BATCH}`,
      [tenantId, head.archivedThroughSequence],
    );
    const records: AuditEventRecord[] = [];
    let previous = head.archivedBoundaryHash;
    for (const row of rows) {
      const record = recordOf(row);
      if (toDbTimestamp(record.occurredAt) >= cutoff) break;
      // Never archive (and so prune) a chain that does not verify: the evidence stays where it is.
      if (record.sequence !== head.archivedThroughSequence + records.length + 1 || record.previousHash !== previous || hashOfEvent(record) !== record.hash) {
        this.options.log?.error({ tenantId, sequence: record.sequence }, 'audit retention stopped: the chain is broken here; nothing past it is archived');
        break;
      }
      records.push(record);
      previous = record.hash;
    }
    if (records.length === 0) return null;
    const first = records[0];
    const last = records[records.length - 1];
    const directory = path.join(this.options.archiveDir, tenantId);
    fs.mkdirSync(directory, { recursive: true });
    const base = `audit-${tenantId}-${String(first.sequence).padStart(12, '0')}-${String(last.sequence).padStart(12, '0')}.jsonl`;
    const file = path.join(directory, base);
    const body = `${records.map(lineOf).join('\n')}\n`;
    const manifest: AuditArchiveManifest = {
      format: 'reckon-audit-archive-v1',
      tenantId,
      fromSequence: first.sequence,
      toSequence: last.sequence,
      count: records.length,
      firstPreviousHash: first.previousHash,
      lastHash: last.hash,
      sha256: crypto.createHash('sha256').update(body, 'utf8').digest('hex'),
      file: base,
      createdAt: this.clock.now().toISOString(),
    };
    const key = this.options.signingKey;
    const jws = await new CompactSign(Buffer.from(JSON.stringify(manifest), 'utf8'))
      .setProtectedHeader({ alg: String(key.alg), kid: key.kid, typ: 'reckon-audit-archive+jws' })
      .sign(await importJWK(key, String(key.alg)));
    // Written in full and synced before anything is pruned; a rename makes each file appear whole.
    writeDurably(file, body);
    writeDurably(`${file}.sig`, `${jws}\n`);

    const pruned = await runInTransaction(dataSource, async (manager) => {
      const [locked]: Record<string, unknown>[] = await manager.query(
        `SELECT archived_through_sequence FROM audit_chain_heads WHERE tenant_id = ?${forUpdate}`,
        [tenantId],
      );
      // Another process archived meanwhile: its files cover these events (the same names and lines).
      if (!locked || Number(locked.archived_through_sequence) !== head.archivedThroughSequence) return false;
      await manager.query('UPDATE audit_chain_heads SET archived_through_sequence = ?, archived_boundary_hash = ? WHERE tenant_id = ?', [
        last.sequence,
        last.hash,
        tenantId,
      ]);
      await manager.query('DELETE FROM audit_event_resources WHERE tenant_id = ? AND sequence <= ?', [tenantId, last.sequence]);
      await manager.query('DELETE FROM audit_events WHERE tenant_id = ? AND sequence > ? AND sequence <= ?', [tenantId, head.archivedThroughSequence, last.sequence]);
      return true;
    });
    if (!pruned) return null;
    this.options.log?.info({ tenantId, fromSequence: first.sequence, toSequence: last.sequence, file }, 'audit events archived and pruned');
    return { tenantId, fromSequence: first.sequence, toSequence: last.sequence, file, signatureFile: `${file}.sig` };
  }
}

function writeDurably(file: string, content: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temporary, 'w', 0o600);
  try {
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
}

export interface AuditArchiveCheck {
  valid: boolean;
  manifest: AuditArchiveManifest | null;
  /** Why it is not valid. */
  reason: string | null;
}

/**
 * Checks an archive as an auditor would: the signature against the server's public keys (its JWKS),
 * the file's SHA-256 against the manifest, and every line's hash and link to the line before.
 */
export async function verifyAuditArchive(file: string, publicKeys: readonly JWK[]): Promise<AuditArchiveCheck> {
  const jws = fs.readFileSync(`${file}.sig`, 'utf8').trim();
  const [encodedHeader] = jws.split('.');
  const header = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8')) as { kid?: string; alg?: string };
  const key = publicKeys.find((candidate) => candidate.kid === header.kid);
  if (!key) return { valid: false, manifest: null, reason: 'no public key with the signature’s kid' };
  let manifest: AuditArchiveManifest;
  try {
    const { payload } = await compactVerify(jws, await importJWK(key, header.alg));
    manifest = JSON.parse(Buffer.from(payload).toString('utf8')) as AuditArchiveManifest;
  } catch {
    return { valid: false, manifest: null, reason: 'bad signature' };
  }
  const body = fs.readFileSync(file, 'utf8');
  if (crypto.createHash('sha256').update(body, 'utf8').digest('hex') !== manifest.sha256) return { valid: false, manifest, reason: 'file digest differs' };
  let previous = manifest.firstPreviousHash;
  let sequence = manifest.fromSequence;
  for (const line of body.split('\n').filter(Boolean)) {
    const parsed = JSON.parse(line) as AuditEventRecord & { occurredAt: string };
    const record = { ...parsed, occurredAt: new Date(`${parsed.occurredAt.replace(' ', 'T')}Z`) };
    if (record.sequence !== sequence || record.previousHash !== previous || hashOfEvent(record) !== record.hash) {
      return { valid: false, manifest, reason: `broken at sequence ${sequence}` };
    }
    previous = record.hash;
    sequence += 1;
  }
  if (sequence - 1 !== manifest.toSequence || previous !== manifest.lastHash) return { valid: false, manifest, reason: 'the lines do not end at the manifest’s last event' };
  return { valid: true, manifest, reason: null };
}
