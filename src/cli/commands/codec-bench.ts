/**
 * `omadm codec bench FILE... [--seconds S] [--json]`: in-process throughput of the SyncML DM codecs
 * on the given messages (captured traffic, the golden vectors, …), as messages/s and MB/s:
 *
 *   xml-decode      XML bytes → typed SyncML message        (decodeXml)
 *   xml-encode      typed message → XML text                 (encodeXml)
 *   wbxml-decode    WBXML bytes → typed message              (decodeWbxmlMessage)
 *   wbxml-encode    typed message → WBXML bytes              (encodeWbxmlMessage)
 *   wbxml-to-xml    WBXML bytes → XML bytes, one pass         (wbxmlToXmlBytes)
 *   xml-to-wbxml    XML bytes → WBXML bytes, no string table (parseXmlElement + encodeWbxml)
 *
 * Files are told apart by content (WBXML starts with its version byte 0x00–0x03). When only one
 * form is given, the other is made by our own transcoder so that every measure runs. MB/s counts
 * the bytes of the input form of each measure (the encoded form for the two encoders), like
 * ../shared/tools/codec-ref does, so figures compare with libwbxml and libxml2.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  decodeWbxmlMessage,
  decodeXml,
  encodeWbxmlMessage,
  encodeXml,
  parseXmlElement,
  type SyncML,
} from '../../representation/index.ts';
import { encodeWbxml, wbxmlToXmlBytes } from '../../representation/wbxml/index.ts';
import { CliError, ExitCode } from '../errors.ts';

export const CODEC_MEASURES = [
  'xml-decode',
  'xml-encode',
  'wbxml-decode',
  'wbxml-encode',
  'wbxml-to-xml',
  'xml-to-wbxml',
] as const;
export type CodecMeasure = (typeof CODEC_MEASURES)[number];

export interface Throughput {
  name: string;
  msgsPerSec: number;
  mbPerSec: number;
}

export interface CodecCorpus {
  /** XML messages as bytes. */
  xml: Uint8Array[];
  /** WBXML messages. */
  wbxml: Uint8Array[];
}

/** UTF-8 bytes of a string; Buffer.from is several times faster than TextEncoder on Node. */
const utf8 = { encode: (s: string): Uint8Array => Buffer.from(s, 'utf8') };

export function isWbxml(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0]! <= 0x03;
}

/** XML → WBXML (no string table, via the element tree) and WBXML → XML (one pass): the two transcodes. */
export function xmlToWbxml(xml: Uint8Array): Uint8Array {
  return encodeWbxml(parseXmlElement(xml), { stringTable: false });
}

/** Builds a corpus from files of either form, filling a missing form by transcoding. */
export function corpusOf(files: readonly Uint8Array[]): CodecCorpus {
  const xml = files.filter((f) => !isWbxml(f));
  const wbxml = files.filter(isWbxml);
  return {
    xml: xml.length > 0 ? xml : wbxml.map((b) => wbxmlToXmlBytes(b)),
    wbxml: wbxml.length > 0 ? wbxml : xml.map(xmlToWbxml),
  };
}

/**
 * Runs `op` over `inputs` again and again for at least `seconds` (after a short warm-up so the
 * JIT has compiled the hot paths) and returns messages/s and MB/s over `sizes`.
 */
export function measure<T>(
  name: string,
  inputs: readonly T[],
  sizes: readonly number[],
  op: (input: T) => unknown,
  seconds: number,
): Throughput {
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const warmUntil = performance.now() + Math.min(500, seconds * 250);
  let sink = 0;
  while (performance.now() < warmUntil) for (const i of inputs) sink ^= op(i) === undefined ? 1 : 0;
  let rounds = 0;
  const t0 = performance.now();
  let elapsed = 0;
  do {
    for (const i of inputs) sink ^= op(i) === undefined ? 1 : 0;
    rounds++;
    elapsed = (performance.now() - t0) / 1000;
  } while (elapsed < seconds);
  if (sink === 2) process.stdout.write(''); // keeps `sink` alive
  return {
    name,
    msgsPerSec: (rounds * inputs.length) / elapsed,
    mbPerSec: (rounds * totalBytes) / elapsed / 1e6,
  };
}

/** Measures all six codec paths on a corpus. Throws DecodeError if a message does not decode. */
export function benchCodecs(corpus: CodecCorpus, seconds: number): Throughput[] {
  const { xml, wbxml } = corpus;
  const fromXml: SyncML[] = xml.map((b) => decodeXml(b));
  const fromWbxml: SyncML[] = wbxml.map((b) => decodeWbxmlMessage(b));
  const xmlSizes = xml.map((b) => b.length);
  const wbxmlSizes = wbxml.map((b) => b.length);
  const encodedXmlSizes = fromXml.map((m) => utf8.encode(encodeXml(m)).length);
  const encodedWbxmlSizes = fromWbxml.map((m) => encodeWbxmlMessage(m).length);
  return [
    measure('xml-decode', xml, xmlSizes, (b) => decodeXml(b), seconds),
    measure('xml-encode', fromXml, encodedXmlSizes, (m) => utf8.encode(encodeXml(m)), seconds),
    measure('wbxml-decode', wbxml, wbxmlSizes, (b) => decodeWbxmlMessage(b), seconds),
    measure('wbxml-encode', fromWbxml, encodedWbxmlSizes, (m) => encodeWbxmlMessage(m), seconds),
    measure('wbxml-to-xml', wbxml, wbxmlSizes, (b) => wbxmlToXmlBytes(b), seconds),
    measure('xml-to-wbxml', xml, xmlSizes, xmlToWbxml, seconds),
  ];
}

export function formatThroughput(rows: readonly Throughput[]): string {
  const w = Math.max(...rows.map((r) => r.name.length));
  return rows
    .map(
      (r) =>
        `${r.name.padEnd(w)}  ${Math.round(r.msgsPerSec).toLocaleString('en-US').padStart(9)} msgs/s  ${r.mbPerSec.toFixed(1).padStart(7)} MB/s`,
    )
    .join('\n');
}

export function register(program: Command): void {
  // `codec` is shared with codec.ts (decode/encode); whichever module loads first creates it.
  const codec =
    program.commands.find((c) => c.name() === 'codec') ??
    program.command('codec').description('decode, encode and benchmark SyncML DM messages (XML and WBXML)');
  codec
    .command('bench')
    .description('measure codec throughput (msgs/s, MB/s) on the given XML or WBXML messages')
    .argument('<files...>', 'messages to measure on (XML or WBXML, auto-detected)')
    .option('--seconds <s>', 'seconds per measure', '2')
    .option('--json', 'print JSON instead of a table')
    .action((files: string[], opts: { seconds: string; json?: boolean }) => {
      const seconds = Number(opts.seconds);
      if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600) {
        throw new CliError(
          `--seconds must be a number in (0, 600], not "${opts.seconds}"`,
          ExitCode.BadInput,
        );
      }
      const inputs = files.map((f) => {
        try {
          return new Uint8Array(readFileSync(f));
        } catch (e) {
          throw new CliError(`cannot read ${f}: ${(e as Error).message}`, ExitCode.BadInput);
        }
      });
      let rows: Throughput[];
      try {
        rows = benchCodecs(corpusOf(inputs), seconds);
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        throw new CliError(
          `a message does not decode: ${typeof code === 'string' ? `${code}: ` : ''}${(e as Error).message}`,
          ExitCode.BadInput,
        );
      }
      if (opts.json) process.stdout.write(`${JSON.stringify({ files, seconds, results: rows }, null, 2)}\n`);
      else process.stdout.write(`${formatThroughput(rows)}\n`);
    });
}
