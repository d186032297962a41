/**
 * `omadm codec decode FILE|-` and `omadm codec encode FILE|- --to wbxml|xml`: read captured DM
 * traffic and transcode it.
 *
 * decode: XML, WBXML (auto-detected from the bytes) or a Package 0 notification → pretty XML, or
 * the typed model as JSON (`--json`; opaque bytes as `{ "$b64": "…" }`).
 * encode: XML, WBXML or model JSON → XML or WBXML on stdout (bytes) or `--out FILE`. By default a
 * SyncML message goes through the typed model, so the output is strict (DTD order, canonical
 * values); `--raw` transcodes the element tree as received.
 * Exit 0 on success, 2 on input that does not decode or encode, with a one-line reason.
 */
import { writeFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { Command } from 'commander';
import { fromJson, type Json, toJson } from '../../protocol/json.ts';
import { type AuthError, credentialDigest, decodeNonce } from '../../protocol/auth/index.ts';
import {
  NotificationError,
  type Package0,
  parsePackage0,
  sessionIdHex,
  verifyPackage0,
  verifyPackage0WithFallback,
} from '../../protocol/notification/index.ts';
import {
  DecodeError,
  type Element,
  EncodeError,
  elementToMessage,
  encodeXml,
  messageToElement,
  parseXmlElement,
  type SyncML,
  writeXmlElement,
} from '../../representation/index.ts';
import { decodeWbxml, encodeWbxml, type WbxmlEncodeOptions } from '../../representation/wbxml/index.ts';
import { CliError, ExitCode } from '../errors.ts';

/** Largest input the command reads (the decoders' own limits are lower by default). */
const MAX_INPUT = 64 * 1024 * 1024;

/** Reads FILE, or stdin for `-`, refusing more than MAX_INPUT bytes. */
export async function readInput(file: string): Promise<Uint8Array> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > MAX_INPUT)
        throw new CliError(`stdin: input larger than ${MAX_INPUT} bytes`, ExitCode.BadInput);
      chunks.push(chunk);
    }
    return new Uint8Array(Buffer.concat(chunks, total));
  }
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    throw new CliError(
      `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      ExitCode.BadInput,
    );
  }
  try {
    const { size } = await handle.stat();
    if (size > MAX_INPUT)
      throw new CliError(`${file}: input larger than ${MAX_INPUT} bytes`, ExitCode.BadInput);
    return new Uint8Array(await handle.readFile());
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(
      `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      ExitCode.BadInput,
    );
  } finally {
    await handle.close();
  }
}

/** What an input turned out to be. */
export type Decoded =
  | { kind: 'message'; encoding: 'xml' | 'wbxml' | 'json'; root: Element; message: SyncML }
  | { kind: 'element'; encoding: 'xml' | 'wbxml' | 'json'; root: Element }
  | { kind: 'package0'; fields: Record<string, unknown>; pkg: Package0 };

export type InputForm = 'auto' | 'xml' | 'wbxml' | 'json' | 'pkg0';

function firstSignificant(bytes: Uint8Array): number {
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)
  )
    i++;
  return bytes[i] ?? -1;
}

function package0(bytes: Uint8Array): Decoded & { kind: 'package0' } {
  const p = parsePackage0(bytes);
  return {
    kind: 'package0',
    pkg: p,
    fields: {
      type: 'package0',
      version: p.version,
      uiMode: p.uiMode,
      initiator: p.initiator,
      sessionId: p.sessionId,
      SessionID: sessionIdHex(p.sessionId),
      serverId: p.serverId,
      futureUse: p.futureUse,
      digest: p.digest,
      vendor: p.vendor,
    },
  };
}

/** A Package 0 only when it looks like a conforming one (auto-detection must not claim junk). */
function plausiblePackage0(bytes: Uint8Array): Decoded | null {
  try {
    const d = package0(bytes);
    const { version, futureUse } = d.fields as { version: number; futureUse: number };
    return version >= 10 && version <= 13 && futureUse === 0 ? d : null;
  } catch {
    return null;
  }
}

function fromElement(root: Element, encoding: 'xml' | 'wbxml' | 'json', strict: boolean): Decoded {
  if (root.name !== 'SyncML') return { kind: 'element', encoding, root };
  return { kind: 'message', encoding, root, message: elementToMessage(root, { strict }) };
}

function fromJsonInput(bytes: Uint8Array, strict: boolean): Decoded {
  let value: Json;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8')) as Json;
  } catch (e) {
    throw new CliError(`not valid JSON: ${(e as Error).message}`, ExitCode.BadInput);
  }
  const v = fromJson<Record<string, unknown>>(value);
  if (v && typeof v === 'object' && 'SyncHdr' in v && 'SyncBody' in v) {
    // Re-read through the element tree so a hand-edited model is validated like any input.
    let root: Element;
    try {
      root = messageToElement(v as unknown as SyncML);
    } catch (e) {
      if (e instanceof EncodeError) throw e;
      throw new CliError(`JSON message model is malformed: ${(e as Error).message}`, ExitCode.BadInput);
    }
    return { kind: 'message', encoding: 'json', root, message: elementToMessage(root, { strict }) };
  }
  if (v && typeof v === 'object' && typeof v.name === 'string' && Array.isArray(v.children)) {
    return fromElement(v as unknown as Element, 'json', strict);
  }
  throw new CliError('JSON input is neither a SyncML message model nor an element tree', ExitCode.BadInput);
}

/** Decodes any supported input. @throws DecodeError, EncodeError, NotificationError, CliError */
export function decodeInput(bytes: Uint8Array, form: InputForm = 'auto', strict = false): Decoded {
  if (bytes.length === 0) throw new CliError('empty input', ExitCode.BadInput);
  switch (form) {
    case 'xml':
      return fromElement(parseXmlElement(bytes, { strict }), 'xml', strict);
    case 'wbxml':
      return fromElement(decodeWbxml(bytes).root, 'wbxml', strict);
    case 'json':
      return fromJsonInput(bytes, strict);
    case 'pkg0':
      return package0(bytes);
  }
  const first = firstSignificant(bytes);
  if (first === 0x3c) return fromElement(parseXmlElement(bytes, { strict }), 'xml', strict);
  if (first === 0x7b) return fromJsonInput(bytes, strict);
  if (bytes[0]! <= 0x03) {
    try {
      return fromElement(decodeWbxml(bytes).root, 'wbxml', strict);
    } catch (e) {
      // A Package 0 digest may start with a byte that looks like a WBXML version.
      const p0 = plausiblePackage0(bytes);
      if (p0) return p0;
      throw e;
    }
  }
  const p0 = plausiblePackage0(bytes);
  if (p0) return p0;
  throw new DecodeError('input.unknown', 'input is neither XML, WBXML, JSON nor a Package 0 notification', 0);
}

/** JSON text of a value, opaque bytes as `{ "$b64": "…" }`. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(toJson(value), null, 2)}\n`;
}

/** The readable XML of a decoded input: messages in XML form (nested WBXML documents inline, binary as b64). */
export function prettyXml(d: Decoded, raw: boolean): string {
  if (d.kind === 'package0') throw new Error('unreachable');
  if (d.kind === 'message' && !raw) return encodeXml(d.message, { pretty: true });
  return writeXmlElement(d.root, { pretty: true });
}

/** What `--server-id/--secret/--digest/--nonce` ask of a Package 0: does its digest verify? */
interface DigestCheck {
  serverId?: string;
  secret?: string;
  digest?: string;
  nonce?: string;
}

/**
 * Adds `digestVerifies` (and which nonce matched) to a decoded Package 0. The credential is the
 * server's (SRVCRED): its secret with the ServerID (the trigger's own unless --server-id), or its
 * digest B64(MD5(name:secret)). Without --nonce the fallback nonce forms are tried.
 */
function checkDigest(pkg: Package0, fields: Record<string, unknown>, o: DigestCheck): boolean | undefined {
  if (o.secret === undefined && o.digest === undefined) {
    if (o.nonce !== undefined || o.serverId !== undefined)
      throw new CliError('verifying a Package 0 needs --secret or --digest', ExitCode.BadInput);
    return undefined;
  }
  const digest = o.digest ?? credentialDigest(o.serverId ?? pkg.serverId, o.secret as string);
  let ok: boolean;
  if (o.nonce === undefined || o.nonce.toLowerCase() === 'fallback') {
    const v = verifyPackage0WithFallback(pkg, digest, undefined);
    ok = v.ok;
    if (v.ok) fields.nonceUsed = Buffer.from(v.nonce).toString('base64');
  } else {
    let nonce: Uint8Array;
    try {
      nonce = decodeNonce(o.nonce);
    } catch (e) {
      throw new CliError(`--nonce: ${(e as AuthError).message}`, ExitCode.BadInput);
    }
    ok = verifyPackage0(pkg, digest, nonce);
    if (ok) fields.nonceUsed = o.nonce;
  }
  fields.digestVerifies = ok;
  return ok;
}

function packageText(fields: Record<string, unknown>): string {
  const lines = ['Package 0 (General Notification Initiated Session Alert)'];
  for (const [k, v] of Object.entries(fields)) {
    if (k === 'type') continue;
    const shown =
      v instanceof Uint8Array ? (v.length ? Buffer.from(v).toString('hex') : '(none)') : String(v);
    lines.push(`  ${k}: ${shown}`);
  }
  return `${lines.join('\n')}\n`;
}

function badInput(file: string, e: unknown): never {
  if (e instanceof CliError) throw e;
  if (e instanceof DecodeError || e instanceof EncodeError) {
    throw new CliError(`${file}: ${e.code}: ${e.message}`, ExitCode.BadInput);
  }
  if (e instanceof NotificationError)
    throw new CliError(`${file}: ${e.code}: ${e.message}`, ExitCode.BadInput);
  throw e;
}

const OPAQUE_DATA: Record<string, WbxmlEncodeOptions['opaqueData']> = {
  never: false,
  always: true,
  libwbxml: 'libwbxml',
};
const WBXML_VERSIONS: Record<string, WbxmlEncodeOptions['version']> = {
  '1.1': 0x01,
  '1.2': 0x02,
  '1.3': 0x03,
};

function output(data: string | Uint8Array, out: string | undefined): void {
  if (out) {
    try {
      writeFileSync(out, data);
    } catch (e) {
      throw new CliError(
        `cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        ExitCode.Failed,
      );
    }
  } else process.stdout.write(data);
}

function parseForm(value: string): InputForm {
  if (value === 'auto' || value === 'xml' || value === 'wbxml' || value === 'json' || value === 'pkg0')
    return value;
  throw new CliError(`--as must be auto, xml, wbxml, json or pkg0, not "${value}"`, ExitCode.BadInput);
}

export function register(program: Command): void {
  // `codec` is shared with codec-bench.ts; whichever module loads first creates it.
  const codec =
    program.commands.find((c) => c.name() === 'codec') ??
    program.command('codec').description('decode, encode and benchmark SyncML DM messages (XML and WBXML)');

  codec
    .command('decode')
    .description(
      'decode an XML or WBXML DM message (or a Package 0 notification) and print it as XML or JSON',
    )
    .argument('<file>', 'input file, or - for stdin')
    .option('--json', 'print the typed message model as JSON (opaque bytes as {"$b64": …})')
    .option('--raw', 'print the element tree as received instead of the re-encoded message')
    .option('--strict', 'reject what the liberal decoder accepts (bare &, unknown elements, broken commands)')
    .option('--as <form>', 'input form: auto, xml, wbxml, json or pkg0', 'auto')
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--server-id <id>', "Package 0: the ServerID whose secret signs it (default: the trigger's own)")
    .option('--secret <secret>', 'Package 0: the server secret (SRVCRED) to verify the digest with')
    .option(
      '--digest <b64>',
      'Package 0: the server credential digest B64(MD5(id:secret)) instead of --secret',
    )
    .option('--nonce <b64>', 'Package 0: the SRVCRED nonce (default: try the fallback nonce forms)')
    .action(
      async (
        file: string,
        opts: { json?: boolean; raw?: boolean; strict?: boolean; as: string; out?: string } & DigestCheck,
      ) => {
        const form = parseForm(opts.as);
        const bytes = await readInput(file);
        let text: string;
        let verified: boolean | undefined;
        try {
          const d = decodeInput(bytes, form, opts.strict === true);
          if (d.kind === 'package0') {
            verified = checkDigest(d.pkg, d.fields, opts);
            text = opts.json ? jsonText(d.fields) : packageText(d.fields);
          } else if (opts.secret !== undefined || opts.digest !== undefined || opts.nonce !== undefined)
            throw new CliError('--secret/--digest/--nonce apply to a Package 0 only', ExitCode.BadInput);
          else if (opts.json) text = jsonText(d.kind === 'message' && !opts.raw ? d.message : d.root);
          else text = prettyXml(d, opts.raw === true);
        } catch (e) {
          badInput(file, e);
        }
        output(text, opts.out);
        // A trigger that does not verify is a finding, not bad input: printed, then exit 1.
        if (verified === false) process.exitCode = ExitCode.Failed;
      },
    );

  codec
    .command('encode')
    .description('encode an XML, WBXML or JSON message as XML or WBXML')
    .argument('<file>', 'input file (XML, WBXML or the JSON of `codec decode --json`), or - for stdin')
    .requiredOption('--to <encoding>', 'output encoding: xml or wbxml')
    .option('--string-table', 'WBXML: share repeated strings through a string table')
    .option('--wbxml-version <v>', 'WBXML version: 1.1, 1.2 or 1.3', '1.2')
    .option(
      '--opaque-data <mode>',
      'WBXML: Data text as STR_I (never), OPAQUE (always) or as libwbxml does (libwbxml)',
      'never',
    )
    .option(
      '--tnds <mode>',
      'WBXML: embedded TNDS as a nested document in OPAQUE (opaque) or on code page 2 (inline)',
      'opaque',
    )
    .option('--pretty', 'XML: indent the output')
    .option('--raw', 'transcode the element tree as received (no re-encoding through the message model)')
    .option('--strict', 'reject what the liberal decoder accepts')
    .option('--as <form>', 'input form: auto, xml, wbxml or json', 'auto')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(
      async (
        file: string,
        opts: {
          to: string;
          stringTable?: boolean;
          wbxmlVersion: string;
          pretty?: boolean;
          raw?: boolean;
          strict?: boolean;
          as: string;
          out?: string;
          opaqueData: string;
          tnds: string;
        },
      ) => {
        const opaqueData = OPAQUE_DATA[opts.opaqueData];
        if (opaqueData === undefined) {
          throw new CliError(
            `--opaque-data must be never, always or libwbxml, not "${opts.opaqueData}"`,
            ExitCode.BadInput,
          );
        }
        if (opts.tnds !== 'opaque' && opts.tnds !== 'inline') {
          throw new CliError(`--tnds must be opaque or inline, not "${opts.tnds}"`, ExitCode.BadInput);
        }
        if (opts.to !== 'xml' && opts.to !== 'wbxml') {
          throw new CliError(`--to must be xml or wbxml, not "${opts.to}"`, ExitCode.BadInput);
        }
        const version = WBXML_VERSIONS[opts.wbxmlVersion];
        if (version === undefined) {
          throw new CliError(
            `--wbxml-version must be 1.1, 1.2 or 1.3, not "${opts.wbxmlVersion}"`,
            ExitCode.BadInput,
          );
        }
        const form = parseForm(opts.as);
        if (form === 'pkg0')
          throw new CliError('a Package 0 notification cannot be encoded as XML or WBXML', ExitCode.BadInput);
        const bytes = await readInput(file);
        let result: string | Uint8Array;
        try {
          const d = decodeInput(bytes, form, opts.strict === true);
          if (d.kind === 'package0') {
            throw new CliError(
              `${file}: a Package 0 notification cannot be encoded as XML or WBXML`,
              ExitCode.BadInput,
            );
          }
          // Through the model unless --raw: strict DTD order and canonical values.
          const viaModel = d.kind === 'message' && !opts.raw;
          const pretty = opts.pretty === true;
          if (opts.to === 'xml') {
            // encodeXml puts OPAQUE Data in XML form: nested WBXML inline, binary as b64, text as text.
            result = viaModel ? encodeXml(d.message, { pretty }) : writeXmlElement(d.root, { pretty });
          } else {
            const root = viaModel ? messageToElement(d.message) : d.root;
            result = encodeWbxml(root, {
              version,
              stringTable: opts.stringTable === true,
              opaqueData,
              tnds: opts.tnds,
            });
          }
        } catch (e) {
          badInput(file, e);
        }
        output(result, opts.out);
      },
    );
}
