import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import { AppError, ErrorCode, validationError } from '../common/errors';
import { createEncodingDetector, type TextEncodingName } from '../modules/reconciliation/importers';

/** A request body written to a temporary file as it arrives, with what the import needs to know of it. */
export interface SpooledBody {
  path: string;
  byteLength: number;
  /** Of the file's bytes (any Content-Encoding undone): the idempotency fingerprint's stand-in for the body. */
  sha256: string;
  encoding: TextEncodingName;
  /** Deletes the file; safe to call twice. */
  remove(): Promise<void>;
}

export interface SpoolOptions {
  /** The most bytes the file may have once decoded. */
  maxBytes: number;
  /** Where the temporary files go. */
  directory: string;
}

export const DEFAULT_SPOOL_DIRECTORY = os.tmpdir();

function tooLarge(maxBytes: number): AppError {
  return new AppError(ErrorCode.QUERY_TOO_LARGE, `The file is larger than ${Math.floor(maxBytes / 1024 / 1024)} MB; split it by period`, { maxBytes });
}

function decoderFor(contentEncoding: string | undefined): Transform | null {
  const encoding = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return null;
  if (encoding === 'gzip' || encoding === 'x-gzip') return zlib.createGunzip();
  if (encoding === 'deflate') return zlib.createInflate();
  throw validationError('This Content-Encoding is not accepted; send the file as it is, or gzip/deflate', { field: 'body' });
}

/**
 * Writes a request body to a temporary file (mode 0600) as it arrives, never holding more than a
 * stream buffer of it: the hash of the file, the decoded size (refused past maxBytes, also
 * when a small gzip body inflates past it) and the text encoding are taken on the way. A body cut
 * short, a bad gzip stream or a full disk leave no file behind.
 */
export async function spoolRequestBody(req: Readable & { headers: Record<string, string | string[] | undefined> }, options: SpoolOptions): Promise<SpooledBody> {
  const declared = Number(req.headers['content-length']);
  const decoder = decoderFor(typeof req.headers['content-encoding'] === 'string' ? req.headers['content-encoding'] : undefined);
  if (!decoder && Number.isFinite(declared) && declared > options.maxBytes) throw tooLarge(options.maxBytes);

  const file = path.join(options.directory, `reckon-statement-${crypto.randomUUID()}`);
  const remove = () => fs.promises.rm(file, { force: true });
  const hash = crypto.createHash('sha256');
  const detector = createEncodingDetector();
  let byteLength = 0;
  const measuring = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      byteLength += chunk.length;
      if (byteLength > options.maxBytes) {
        done(tooLarge(options.maxBytes));
        return;
      }
      hash.update(chunk);
      detector.update(chunk);
      done(null, chunk);
    },
  });
  try {
    const out = fs.createWriteStream(file, { mode: 0o600, flags: 'wx' });
    if (decoder) await pipeline(req, decoder, measuring, out);
    else await pipeline(req, measuring, out);
  } catch (error) {
    await remove();
    if (error instanceof AppError) throw error;
    if ((error as { code?: string }).code?.startsWith('Z_')) throw validationError('The body is not the gzip/deflate stream its Content-Encoding says', { field: 'body' });
    if ((error as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE' || (error as { code?: string }).code === 'ECONNRESET') {
      throw validationError('The request body could not be read (the upload was cut short)', { field: 'body' });
    }
    throw error;
  }
  return { path: file, byteLength, sha256: hash.digest('hex'), encoding: detector.result(), remove };
}
