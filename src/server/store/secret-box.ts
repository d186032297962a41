/**
 * Sealing of server-side secrets at rest (AES-256-GCM).
 *
 * The server must prove itself to each device (SRVCRED), so unlike client secrets it cannot keep
 * only a one-way hash: it needs B64(MD5(name:secret)) (enough for MD5/HMAC Cred and the Pkg-0
 * digest) or, for Basic, the plaintext. With a `secretKey` configured both are stored sealed, so a
 * database dump alone does not let anyone impersonate the server. Without a key the digest is
 * stored as is (marked `plain:`) and Basic server secrets are refused.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { StoreError, StoreErrorCode } from './errors.ts';

const PREFIX_SEALED = 'v1:';
const PREFIX_PLAIN = 'plain:';

/** Unsealed values kept per process (each DM session unseals its device's server digest). */
const OPEN_CACHE = 10_000;

export class SecretBox {
  readonly #key: Buffer | undefined;
  /** Sealed text → plaintext; sealed texts are unique (random IV), so entries never go stale. */
  readonly #opened = new Map<string, string>();

  /** `key`: 32 bytes, or undefined for no sealing. */
  constructor(key?: Uint8Array) {
    if (key !== undefined && key.length !== 32) {
      throw new StoreError(StoreErrorCode.SecretKey, 'secretKey must be 32 bytes (AES-256)');
    }
    this.#key = key ? Buffer.from(key) : undefined;
  }

  get canSeal(): boolean {
    return this.#key !== undefined;
  }

  /** Seals when a key is configured; otherwise marks as plain unless `required`. */
  seal(value: string, required = false): string {
    if (!this.#key) {
      if (required) {
        throw new StoreError(
          StoreErrorCode.SecretKey,
          'storing a plaintext server secret (Basic server credentials) needs a configured secretKey',
        );
      }
      return PREFIX_PLAIN + value;
    }
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const ct = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${PREFIX_SEALED}${iv.toString('base64url')}.${tag.toString('base64url')}.${ct.toString('base64url')}`;
  }

  open(stored: string): string {
    if (stored.startsWith(PREFIX_PLAIN)) return stored.slice(PREFIX_PLAIN.length);
    if (!stored.startsWith(PREFIX_SEALED)) {
      throw new StoreError(StoreErrorCode.SecretKey, 'stored secret has an unknown format');
    }
    if (!this.#key)
      throw new StoreError(StoreErrorCode.SecretKey, 'stored secret is sealed but no secretKey is set');
    const cached = this.#opened.get(stored);
    if (cached !== undefined) return cached;
    const [iv, tag, ct] = stored.slice(PREFIX_SEALED.length).split('.');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv ?? '', 'base64url'));
      decipher.setAuthTag(Buffer.from(tag ?? '', 'base64url'));
      const plain = Buffer.concat([
        decipher.update(Buffer.from(ct ?? '', 'base64url')),
        decipher.final(),
      ]).toString('utf8');
      if (this.#opened.size >= OPEN_CACHE) this.#opened.delete(this.#opened.keys().next().value!);
      this.#opened.set(stored, plain);
      return plain;
    } catch (e) {
      throw new StoreError(StoreErrorCode.SecretKey, 'cannot unseal a stored secret (wrong secretKey?)', {
        cause: e,
      });
    }
  }
}
