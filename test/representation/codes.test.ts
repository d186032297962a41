import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AlertCode,
  alertMeaning,
  isAlertCode,
  isStatusCode,
  isSuccess,
  isUiAlert,
  StatusCode,
  statusMeaning,
} from '../../src/representation/index.ts';

test('status codes carry their spec values and meanings', () => {
  assert.equal(StatusCode.Ok, 200);
  assert.equal(StatusCode.AuthenticationAccepted, 212);
  assert.equal(StatusCode.ChunkedItemAccepted, 213);
  assert.equal(StatusCode.AlreadyExists, 418);
  assert.equal(StatusCode.SizeMismatch, 424);
  assert.equal(StatusCode.PermissionDenied, 425);
  assert.equal(StatusCode.AtomicFailed, 507);
  assert.equal(StatusCode.AtomicResponseTooLarge, 517);
  assert.equal(statusMeaning(404), 'Not found');
  assert.equal(statusMeaning(216), 'Atomic roll back OK');
  assert.equal(statusMeaning(450), 'Originator exception (unknown code)');
  for (const code of Object.values(StatusCode)) {
    assert.ok(isStatusCode(code));
    assert.doesNotMatch(statusMeaning(code), /\(unknown code\)|^Unknown status code$/, String(code));
  }
  assert.equal(isStatusCode(450), false);
  assert.equal(isStatusCode(509), false);
  assert.ok(isSuccess(StatusCode.AcceptedForProcessing));
  assert.ok(!isSuccess(StatusCode.NotModified));
});

test('alert codes carry their spec values and meanings', () => {
  assert.deepEqual(
    [
      AlertCode.Display,
      AlertCode.ServerInitiatedMgmt,
      AlertCode.ClientInitiatedMgmt,
      AlertCode.NextMessage,
      AlertCode.SessionAbort,
      AlertCode.GenericAlert,
    ],
    [1100, 1200, 1201, 1222, 1223, 1226],
  );
  assert.equal(alertMeaning(1225), 'No end of data');
  assert.equal(alertMeaning(1221), 'Unknown alert code');
  for (const code of Object.values(AlertCode)) assert.ok(isAlertCode(code));
  assert.equal(isAlertCode(1105), false);
  assert.ok(isUiAlert(1104));
  assert.ok(!isUiAlert(1200));
});
