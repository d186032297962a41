/**
 * Hostile XML: each attack is rejected with the right DecodeError code, without expanding,
 * fetching, recursing on the JS stack or copying the input.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { describe, test } from 'node:test';
import { DecodeError, decodeMessage, decodeXml, parseXmlElement } from '../../src/representation/index.ts';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DecodeError, String(e));
    return e.code;
  }
  assert.fail('expected a DecodeError');
}

describe('hostile XML input', () => {
  test('billion laughs: entity declarations in the internal subset are refused', () => {
    const lol = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>`;
    assert.equal(
      code(() => parseXmlElement(lol)),
      'xml.doctype',
    );
    // Parameter entities too.
    assert.equal(
      code(() => parseXmlElement('<!DOCTYPE a [ %pe; ]><a/>')),
      'xml.doctype',
    );
    // An internal subset without entities (comments, element declarations) is harmless and ignored.
    assert.equal(parseXmlElement('<!DOCTYPE a [ <!-- x --> <!ELEMENT a ANY> ]><a/>').name, 'a');
  });

  test('XXE: external entities are never resolved, never fetched', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.end('<!ENTITY x "pwned">');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as { port: number };
      const url = `http://127.0.0.1:${port}/evil.dtd`;
      const xxe = `<?xml version="1.0"?><!DOCTYPE SyncML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><SyncML>&xxe;</SyncML>`;
      assert.equal(
        code(() => parseXmlElement(xxe)),
        'xml.doctype',
      );
      const remote = `<!DOCTYPE SyncML [<!ENTITY % ext SYSTEM "${url}"> %ext;]><SyncML>&x;</SyncML>`;
      assert.equal(
        code(() => parseXmlElement(remote)),
        'xml.doctype',
      );
      // An external DTD subset is ignored; its entities are therefore undeclared.
      const sys = `<!DOCTYPE SyncML SYSTEM "${url}"><SyncML>&x;</SyncML>`;
      assert.equal(
        code(() => parseXmlElement(sys)),
        'xml.entity',
      );
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(hits, 0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('10k-deep nesting: xml.depth, no stack overflow; also with the limit raised', () => {
    const deep = `${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}`;
    assert.equal(
      code(() => parseXmlElement(deep)),
      'xml.depth',
    );
    // The reader uses explicit stacks: even 10k levels parse when the limit allows it.
    let e = parseXmlElement(deep, { maxDepth: 20_000 });
    let depth = 1;
    while (e.children.length) {
      e = e.children[0] as typeof e;
      depth++;
    }
    assert.equal(depth, 10_000);
    // Through the message decoder the same input is rejected too.
    assert.equal(
      code(() => decodeXml(deep)),
      'xml.depth',
    );
  });

  test('100 MB body: rejected on the size limit before any decoding', () => {
    const body = new Uint8Array(100 * 1024 * 1024); // zero-filled: never read
    body.set(Buffer.from('<SyncML xmlns="SYNCML:SYNCML1.2">'), 0);
    const before = process.memoryUsage().arrayBuffers;
    assert.equal(
      code(() => decodeMessage(body, 'application/vnd.syncml.dm+xml')),
      'xml.size',
    );
    assert.equal(
      code(() => parseXmlElement(body)),
      'xml.size',
    );
    // No copy of the body was made (allow unrelated small allocations).
    assert.ok(process.memoryUsage().arrayBuffers - before < 10 * 1024 * 1024);
  });

  test('huge text within the byte limit is bounded by the text limit', () => {
    const big = `<a>${'x'.repeat(2_000_000)}</a>`;
    assert.equal(
      code(() => parseXmlElement(big, { maxTextLength: 1_000_000 })),
      'xml.text',
    );
  });

  test('element bombs: many siblings hit the element limit', () => {
    const many = `<a>${'<b/>'.repeat(600_000)}</a>`;
    assert.equal(
      code(() => parseXmlElement(many)),
      'xml.elements',
    );
  });

  // The timeout is a hang guard, not a speed assertion: copying inherited prefix bindings per
  // element made this 1 MB input take ~90 s; with linked scopes it is linear.
  test('namespace-declaration bomb: deep declaring chain with many declaring siblings', {
    timeout: 30_000,
  }, () => {
    let open = '';
    let close = '';
    for (let d = 0; d < 200; d++) {
      let decls = '';
      for (let k = 0; k < 60; k++) decls += ` xmlns:p${d}_${k}="urn:${d}:${k}"`;
      open += `<e${decls}>`;
      close += '</e>';
    }
    const siblings = '<p0_0:s xmlns:q="v"/>'.repeat(25_000) + '<s xmlns:q="v"/>'.repeat(25_000);
    const root = parseXmlElement(open + siblings + close);
    let e = root;
    for (let d = 1; d < 200; d++) e = e.children[0] as typeof e;
    assert.equal(e.children.length, 50_000);
    assert.deepEqual(e.children[0], { name: 's', ns: 'urn:0:0', children: [] });
    assert.deepEqual(e.children[49_999], { name: 's', ns: '', children: [] });
  });

  test('unclosed tags and junk are malformed', () => {
    assert.equal(
      code(() => decodeXml('<SyncML><SyncHdr>')),
      'xml.malformed',
    );
    assert.equal(
      code(() => decodeXml('<SyncML></SyncML><junk/>')),
      'xml.malformed',
    );
    assert.equal(
      code(() => decodeXml('\u0000\u0001garbage')),
      'xml.malformed',
    );
    assert.equal(
      code(() => decodeMessage(Buffer.from('GET / HTTP/1.1'))),
      'input.unknown',
    );
  });

  test('mutated golden messages: decode or DecodeError, never another exception', () => {
    const golden = ['pkg1', 'pkg2', 'pkg3', 'pkg4', 'tndsmsg'].map((n) =>
      readFileSync(new URL(`../../../shared/vectors/packages/${n}.xml`, import.meta.url)),
    );
    let seed = 987654321;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const bytes = [
      0x3c, 0x3e, 0x2f, 0x26, 0x3b, 0x22, 0x3d, 0x20, 0x00, 0xff, 0x41, 0x21, 0x3f, 0x5b, 0x5d, 0x3a,
    ];
    let decoded = 0;
    for (let i = 0; i < 3000; i++) {
      const src = golden[rnd(golden.length)]!;
      const b = Buffer.from(src);
      const edits = 1 + rnd(4);
      let cur: Buffer = b;
      for (let e = 0; e < edits; e++) {
        const at = rnd(cur.length);
        const op = rnd(3);
        if (op === 0) cur[at] = bytes[rnd(bytes.length)]!;
        else if (op === 1) cur = Buffer.concat([cur.subarray(0, at), cur.subarray(at + 1 + rnd(8))]);
        else
          cur = Buffer.concat([
            cur.subarray(0, at),
            Buffer.from([bytes[rnd(bytes.length)]!]),
            cur.subarray(at),
          ]);
      }
      try {
        decodeXml(cur);
        decoded++;
      } catch (e) {
        assert.ok(e instanceof DecodeError, `${cur.toString('latin1')}: ${String(e)}`);
      }
    }
    // Some mutations land in text and still decode: the fuzzer exercises both outcomes.
    assert.ok(decoded > 0 && decoded < 3000, String(decoded));
  });

  test('random bytes never crash: always a DecodeError', () => {
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const alphabet = '<>/!?[]&;#x"\'= abcSyncML:-\n';
    for (let i = 0; i < 2000; i++) {
      const n = rnd() % 64;
      let s = '<';
      for (let j = 0; j < n; j++) s += alphabet[rnd() % alphabet.length];
      try {
        parseXmlElement(s);
      } catch (e) {
        assert.ok(e instanceof DecodeError, `${JSON.stringify(s)}: ${String(e)}`);
      }
    }
  });
});
