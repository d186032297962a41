/**
 * Smart-card bootstrap (objects.md §7.6): a pluggable source of bootstrap
 * documents read from a UICC/SIM/R-UIM at power-on. The card's real
 * structure (PKCS#15 ODF → DODF → EFs) is reached through a reader
 * implementation; `DirectorySmartCardSource` serves a directory laid out
 * like the card, for emulators, factory images and tests.
 *
 * Directory layout (one directory = one card):
 *   card-id          optional; text; the card identity (e.g. ICCID), used to
 *                    notice a changed card and remove accounts it no longer carries
 *   dm-<n>.wbxml     DM-profile bootstrap messages (WBXML SyncML DM), n = 1, 2, …
 *   cp-<n>.wbxml     CP-profile documents (WBXML wap-provisioningdoc)
 * Files are returned ordered by profile (dm first) then n. Anything else is ignored.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BootstrapError, BootstrapErrorCode } from './errors.ts';
import type { BootstrapProfile } from './security.ts';

export interface CardBootstrapDocument {
  profile: BootstrapProfile;
  bytes: Uint8Array;
  /** Where it came from on the card (file name, EF id), for logs and for removal tracking. */
  origin: string;
}

export interface CardContents {
  /** Card identity, when the card exposes one. */
  cardId?: string;
  documents: CardBootstrapDocument[];
}

export interface SmartCardBootstrapSource {
  readonly name: string;
  /** Reads the bootstrap documents; `undefined` when no card is present. */
  read(): Promise<CardContents | undefined>;
}

/** Largest bootstrap file accepted from a card (real EFs are a few KB). */
export const MAX_CARD_FILE_BYTES = 64 * 1024;

const FILE = /^(dm|cp)-(\d{1,4})\.wbxml$/;

export class DirectorySmartCardSource implements SmartCardBootstrapSource {
  readonly name: string;
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
    this.name = `dir:${dir}`;
  }

  async read(): Promise<CardContents | undefined> {
    let entries: string[];
    try {
      entries = await readdir(this.#dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // no card inserted
      throw new BootstrapError(
        BootstrapErrorCode.SmartCard,
        `cannot read ${this.#dir}: ${(err as Error).message}`,
      );
    }
    const files = entries
      .map((f) => ({ f, m: FILE.exec(f) }))
      .filter((x): x is { f: string; m: RegExpExecArray } => x.m !== null)
      .sort((a, b) => (a.m[1] === b.m[1] ? Number(a.m[2]) - Number(b.m[2]) : a.m[1] === 'dm' ? -1 : 1));
    const documents: CardBootstrapDocument[] = [];
    for (const { f, m } of files) {
      const path = join(this.#dir, f);
      const s = await stat(path);
      if (!s.isFile()) continue;
      if (s.size > MAX_CARD_FILE_BYTES)
        throw new BootstrapError(
          BootstrapErrorCode.SmartCard,
          `${f} is larger than ${MAX_CARD_FILE_BYTES} bytes`,
        );
      documents.push({
        profile: m[1] as BootstrapProfile,
        bytes: new Uint8Array(await readFile(path)),
        origin: f,
      });
    }
    const out: CardContents = { documents };
    if (entries.includes('card-id')) {
      const id = (await readFile(join(this.#dir, 'card-id'), 'utf8')).trim();
      if (id.length > 0 && id.length <= 64) out.cardId = id;
    }
    return out;
  }
}
