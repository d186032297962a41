/**
 * `omadm codec decode|encode`, run as the real command (bin/omadm.js under this Node) on the
 * shared vectors, checking output and exit codes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.ts';
import { buildPackage0 } from '../../src/protocol/notification/index.ts';
import { decodeMessage, decodeXml, equivalentMessages } from '../../src/representation/index.ts';

const BIN = fileURLToPath(new URL('../../bin/omadm.js', import.meta.url));
const VECTORS = new URL('../../../shared/vectors/', import.meta.url);
const vector = (rel: string): string => fileURLToPath(new URL(rel, VECTORS));
const tmp = mkdtempSync(join(tmpdir(), 'omadm-codec-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the real command in a child process (stdin, stdout bytes, exit status). */
function omadm(
  args: string[],
  input?: Uint8Array | string,
): { code: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

let seq = 0;
/**
 * Runs the command in this process: input from a file, output through `--out`, stderr captured
 * (stdout is left alone: the test runner reports through it).
 */
async function run(
  args: string[],
  input?: Uint8Array | string,
): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const n = ++seq;
  const inFile = join(tmp, `in-${n}`);
  const outFile = join(tmp, `out-${n}`);
  if (input !== undefined) writeFileSync(inFile, input);
  writeFileSync(outFile, '');
  const argv = args.map((a) => (a === '-' ? inFile : a));
  let stderr = '';
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main([...argv, '--out', outFile]);
  } finally {
    process.stderr.write = write;
    process.exitCode = undefined;
  }
  return { code, stdout: readFileSync(outFile), stderr };
}

describe('omadm codec decode', () => {
  test('XML → pretty XML of the same message', async () => {
    const r = await run(['codec', 'decode', vector('packages/pkg2.xml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /^<SyncML xmlns="SYNCML:SYNCML1\.2">\n {2}<SyncHdr>\n/);
    assert.deepEqual(decodeXml(r.stdout), decodeXml(readFileSync(vector('packages/pkg2.xml'))));
  });

  test('WBXML with a nested TNDS document → XML with the tree inline', async () => {
    const r = await run(['codec', 'decode', vector('packages/tndsmsg.wbxml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /<MgmtTree xmlns="syncml:dmddf1\.2">/);
    assert.ok(
      equivalentMessages(decodeXml(r.stdout), decodeMessage(readFileSync(vector('packages/tndsmsg.xml')))),
    );
  });

  test('--json prints the model, opaque bytes as $b64; stdin with -', async () => {
    const body = readFileSync(vector('real-clients/libdmclient-wbxml/req1.body'));
    const r = omadm(['codec', 'decode', '--json', '-'], body);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout.toString());
    assert.equal(json.SyncHdr.Source.LocURI, 'DMCtest');
    assert.equal(json.SyncBody.commands[0].type, 'Alert');
    const dataValues = JSON.stringify(json).match(/"\$b64":"[A-Za-z0-9+/=]*"/g) ?? [];
    assert.ok(dataValues.length > 0, 'opaque Data shown as base64');
  });

  test('server message with a bare & decodes; --strict refuses it with exit 2', async () => {
    const file = vector('server-messages/dm12/testalertconfirm.xml');
    const ok = await run(['codec', 'decode', file]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout.toString(), /MAXDT=15&amp;DR=1/);
    const strict = omadm(['codec', 'decode', '--strict', file]);
    assert.equal(strict.code, 2);
    assert.match(strict.stderr, /^omadm: .*xml\.entity: .*\(at byte \d+\)\n$/);
  });

  test('a Package 0 notification is recognised and shown', async () => {
    const pkg0 = buildPackage0({
      serverId: 'srv1',
      sessionId: 0xa1,
      nonce: new Uint8Array(4),
      secret: 'srvpass',
    });
    const file = join(tmp, 'pkg0.bin');
    writeFileSync(file, pkg0);
    const r = await run(['codec', 'decode', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /Package 0/);
    assert.match(r.stdout.toString(), /serverId: srv1/);
    assert.match(r.stdout.toString(), /SessionID: A1/);
    const j = await run(['codec', 'decode', '--json', file]);
    assert.equal(JSON.parse(j.stdout.toString()).sessionId, 0xa1);
  });

  test('a Package 0 digest is verified with the server credential (exit 1 when it does not verify)', async () => {
    const nonce = Buffer.from('0102030405060708', 'hex');
    const file = join(tmp, 'pkg0-signed.bin');
    writeFileSync(file, buildPackage0({ serverId: 'srv1', sessionId: 0x1b, nonce, secret: 'srvpass' }));
    const b64 = nonce.toString('base64');
    const ok = await run(['codec', 'decode', file, '--secret', 'srvpass', '--nonce', b64]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout.toString(), /digestVerifies: true/);
    const wrong = await run(['codec', 'decode', file, '--secret', 'other', '--nonce', b64]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout.toString(), /digestVerifies: false/);
    const otherNonce = await run(['codec', 'decode', '--json', file, '--secret', 'srvpass']);
    assert.equal(
      otherNonce.code,
      1,
      'the fallback nonces must not match a trigger signed with another nonce',
    );
    assert.equal(JSON.parse(otherNonce.stdout.toString()).digestVerifies, false);
    const fallback = join(tmp, 'pkg0-fallback.bin');
    writeFileSync(
      fallback,
      // The fallback nonce (four zero bytes): what a server uses before it has a nonce in common.
      buildPackage0({ serverId: 'srv1', sessionId: 0x1c, nonce: new Uint8Array(4), secret: 'srvpass' }),
    );
    const fb = await run(['codec', 'decode', '--json', fallback, '--secret', 'srvpass']);
    assert.equal(fb.code, 0, fb.stderr);
    assert.equal(JSON.parse(fb.stdout.toString()).digestVerifies, true);
    const notPkg0 = await run(['codec', 'decode', vector('packages/pkg1.xml'), '--secret', 'x']);
    assert.equal(notPkg0.code, 2);
  });

  test('bad input: one line on stderr, exit 2', async () => {
    const cases: [string[], string | undefined, RegExp][] = [
      [['codec', 'decode', '-'], '<SyncML><SyncHdr>', /xml\.malformed/],
      [['codec', 'decode', '-'], 'hello', /input\.unknown/],
      [['codec', 'decode', '-'], '', /empty input/],
      [['codec', 'decode', '-'], '<Foo/>', /^$/], // a non-SyncML document is shown as an element tree
      [['codec', 'decode', '-'], '<SyncML><SyncBody/></SyncML>', /syncml\.missing/],
      [['codec', 'decode', '-'], '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', /xml\.doctype/],
      [['codec', 'decode', '-'], '\u0002\u0000\u0000', /wbxml\./],
      [['codec', 'decode', join(tmp, 'missing.xml')], undefined, /cannot read .*ENOENT/],
      [['codec', 'decode', '--as', 'zip', '-'], '<a/>', /--as must be/],
    ];
    for (const [args, input, re] of cases) {
      const r = await run(args, input);
      if (re.source === '^$') {
        assert.equal(r.code, 0, r.stderr);
        continue;
      }
      assert.equal(r.code, 2, `${args.join(' ')} ${input}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    }
  });
});

describe('omadm codec encode', () => {
  test('XML → WBXML through the model equals libwbxml output byte for byte (with its options)', async () => {
    for (const name of ['pkg1', 'pkg2', 'pkg3', 'pkg4', 'tndsmsg']) {
      const r = await run([
        'codec',
        'encode',
        vector(`packages/${name}.xml`),
        '--to',
        'wbxml',
        '--string-table',
        '--opaque-data',
        'libwbxml',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        new Uint8Array(r.stdout),
        new Uint8Array(readFileSync(vector(`packages/${name}.wbxml`))),
        name,
      );
    }
  });

  test('WBXML → XML, and XML → WBXML → (stdin) XML round trip', async () => {
    const r = await run(['codec', 'encode', vector('packages/pkg3.wbxml'), '--to', 'xml']);
    assert.equal(r.code, 0, r.stderr);
    const original = decodeXml(readFileSync(vector('packages/pkg3.xml')));
    assert.ok(equivalentMessages(decodeXml(r.stdout), original));
    const wbxml = await run(['codec', 'encode', vector('packages/pkg3.xml'), '--to', 'wbxml']);
    assert.equal(wbxml.code, 0, wbxml.stderr);
    const back = omadm(['codec', 'encode', '-', '--to', 'xml', '--pretty'], wbxml.stdout);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(decodeXml(back.stdout), original);
  });

  test('JSON from decode --json encodes back to the same message', async () => {
    const json = await run(['codec', 'decode', '--json', vector('packages/tndsmsg.wbxml')]);
    assert.equal(json.code, 0, json.stderr);
    const r = await run(['codec', 'encode', '-', '--to', 'xml'], json.stdout);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      equivalentMessages(decodeXml(r.stdout), decodeXml(readFileSync(vector('packages/tndsmsg.xml')))),
    );
  });

  test('--raw transcodes the element tree as received (liberal order kept)', async () => {
    const xml =
      '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><MsgID>1</MsgID><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><Target><LocURI>a</LocURI></Target><Source><LocURI>b</LocURI></Source></SyncHdr><SyncBody/></SyncML>';
    const strict = await run(['codec', 'encode', '-', '--to', 'xml'], xml);
    assert.equal(strict.code, 0, strict.stderr);
    assert.match(strict.stdout.toString(), /<SyncHdr><VerDTD>1\.2<\/VerDTD>/);
    const raw = await run(['codec', 'encode', '-', '--to', 'xml', '--raw'], xml);
    assert.equal(raw.stdout.toString(), xml.replace('<SyncBody/>', '<SyncBody/>'));
  });

  test('bad options and input: exit 2', async () => {
    for (const args of [
      ['codec', 'encode', '-', '--to', 'json'],
      ['codec', 'encode', '-', '--to', 'wbxml', '--wbxml-version', '2.0'],
      ['codec', 'encode', '-', '--to', 'wbxml', '--opaque-data', 'maybe'],
      ['codec', 'encode', '-', '--to', 'xml', '--as', 'pkg0'],
    ]) {
      const r = await run(args, '<a/>');
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    const junk = await run(['codec', 'encode', '-', '--to', 'xml'], '{"SyncHdr": 1, "SyncBody": 2}');
    assert.equal(junk.code, 2, junk.stderr);
    const missing = await run(['codec', 'encode', '-'], '<a/>');
    assert.equal(missing.code, 64, 'a missing required option is a usage error');
  });
});
