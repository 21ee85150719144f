import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ioctlRequest } from '../../src/native/ioctl.ts';
import { IOCHVVSSREAD, IOCHVVSSWRITE } from '../../src/native/vss-device.ts';

test('FreeBSD encodings of IOCHVVSSREAD and IOCHVVSSWRITE', () => {
  assert.equal(ioctlRequest('freebsd', 'read', 'v', 2, 64), 0x40407602);
  assert.equal(ioctlRequest('freebsd', 'write', 'v', 3, 64), 0x80407603);
});

test('Linux encodings of IOCHVVSSREAD and IOCHVVSSWRITE', () => {
  assert.equal(ioctlRequest('linux', 'read', 'v', 2, 64), 0x80407602);
  assert.equal(ioctlRequest('linux', 'write', 'v', 3, 64), 0x40407603);
});

test('the device module uses the running OS encoding', () => {
  assert.equal(process.platform, 'linux');
  assert.equal(IOCHVVSSREAD, 0x80407602);
  assert.equal(IOCHVVSSWRITE, 0x40407603);
});

test('oversized arguments and bad groups are refused', () => {
  assert.throws(() => ioctlRequest('freebsd', 'read', 'v', 2, 0x2000), RangeError);
  assert.throws(() => ioctlRequest('linux', 'read', 'vv', 2, 64), RangeError);
});
