/**
 * Which leaves are secret (DDF + configurable list), and what a trace keeps of a message: tokens
 * overwritten in XML and WBXML (string tables included), secret Data and Basic credentials
 * replaced, everything else byte for byte.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeMessage, encodeWbxmlMessage, encodeXml, type SyncML } from '../../src/representation/index.ts';
import { publicSessionKey, REDACTED, redactMessage, redactUrl } from '../../src/server/redact.ts';
import { SecretLeaves } from '../../src/server/store/index.ts';

test('secret leaves: write-only by the shipped DDFs, plus names and patterns from the list', () => {
  const s = new SecretLeaves(['PSK', './Vendor/Acme/*/Key']);
  for (const uri of [
    './DMAcc/x/AppAuth/1/AAuthSecret',
    'DMAcc/x/AppAuth/1/AAuthData/',
    './Wifi/Profile/3/PSK',
    './Vendor/Acme/7/Key',
  ])
    assert.equal(s.isSecret(uri), true, uri);
  for (const uri of [
    './DMAcc/x/AppAuth/1/AAuthName',
    './Vendor/Acme/7/8/Key',
    './Vendor/Acme/Key',
    './DevInfo/Mod',
  ])
    assert.equal(s.isSecret(uri), false, uri);
  // The DDF-derived names hold whatever the list says.
  assert.equal(new SecretLeaves([]).isSecret('./A/AAuthSecret'), true);
  assert.equal(new SecretLeaves([]).isSecret('./A/ServerPW'), false);
  assert.equal(new SecretLeaves().isSecret('./A/ServerPW'), true);
});

function message(token: string, secret: string, basic: string): SyncML {
  return decodeMessage(
    Buffer.from(
      `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>2</MsgID>` +
        `<Target><LocURI>IMEI:1</LocURI></Target><Source><LocURI>http://h/dm?s=${token}</LocURI></Source>` +
        `<Cred><Meta><Type xmlns="syncml:metinf">syncml:auth-basic</Type></Meta><Data>${basic}</Data></Cred>` +
        `<RespURI>http://h/dm?s=${token}</RespURI></SyncHdr><SyncBody>` +
        `<Replace><CmdID>1</CmdID><Item><Target><LocURI>./DMAcc/a/AppAuth/1/AAuthSecret</LocURI></Target><Data>${secret}</Data></Item>` +
        `<Item><Target><LocURI>./DMAcc/a/AppAuth/1/AAuthName</LocURI></Target><Data>visible-name</Data></Item></Replace>` +
        `<Final/></SyncBody></SyncML>`,
    ),
  );
}

test('a trace keeps no token, secret value or Basic credential, in XML or WBXML (string table too)', () => {
  const alnum = fc.stringMatching(/^[A-Za-z0-9_-]{22}$/);
  fc.assert(
    fc.property(alnum, fc.stringMatching(/^[A-Za-z0-9!#%]{8,40}$/), (token, secret) => {
      const basic = Buffer.from(`IMEI:1:${secret}`).toString('base64');
      const msg = message(token, secret, basic);
      const secrets = new SecretLeaves();
      for (const body of [
        Buffer.from(encodeXml(msg)),
        encodeWbxmlMessage(msg),
        encodeWbxmlMessage(msg, { stringTable: true }),
        encodeWbxmlMessage(msg, { opaqueData: true }),
      ]) {
        const out = redactMessage(body, { tokens: [token], secrets });
        const text = Buffer.from(out).toString('latin1');
        assert.equal(text.includes(token), false);
        assert.equal(text.includes(secret), false);
        assert.equal(text.includes(basic), false);
        // Still a message, with everything else intact.
        const back = decodeMessage(out);
        assert.equal(back.SyncHdr.SessionID, '1');
        assert.match(Buffer.from(encodeXml(back)).toString(), /visible-name/);
        assert.match(Buffer.from(encodeXml(back)).toString(), new RegExp(REDACTED.replace(/[[\]]/g, '\\$&')));
      }
    }),
    { numRuns: 50 },
  );
});

test('a message with nothing secret is kept byte for byte; undecodable bytes are kept as they are', () => {
  const plain = Buffer.from('<SyncML><SyncHdr/><SyncBody><Final/></SyncBody></SyncML>');
  assert.equal(redactMessage(plain, { secrets: new SecretLeaves() }), plain);
  const junk = Buffer.from('AAuthSecret \u0000\u0001 not a message');
  assert.deepEqual(redactMessage(junk, { secrets: new SecretLeaves() }), junk);
});

test('public session keys and URLs for logs give no token away', () => {
  const token = 'Zm9vYmFyYmF6cXV4cXV1eA';
  const k = publicSessionKey(token);
  assert.equal(k.includes(token), false);
  assert.equal(publicSessionKey(k), k);
  assert.equal(redactUrl(`/dm?s=${token}`), '/dm?s=*');
  assert.equal(redactUrl(`/dm?x=1&s=${token}&y=2`), '/dm?x=1&s=*&y=2');
});
