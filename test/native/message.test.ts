import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeMessage, msgidString } from '../../src/native/message.ts';

test('hv_vss_opt_msg is 64 bytes with opt, status, msgid at offsets 0, 4, 8', () => {
  const msgid = 1_764_072_000_123_456_789n; // a nanosecond timestamp, above 2^53
  const buf = encodeMessage({ opt: 2, status: 1, msgid });
  assert.equal(buf.length, 64);
  assert.equal(buf.readUInt32LE(0), 2);
  assert.equal(buf.readUInt32LE(4), 1);
  assert.equal(buf.readBigUInt64LE(8), msgid);
  assert.ok(buf.subarray(16).every((b) => b === 0));
});

test('encode/decode round-trips every field exactly, msgid as BigInt', () => {
  const reserved = new Uint8Array(48);
  reserved[47] = 9;
  const original = { opt: 3, status: 0, msgid: 2n ** 64n - 1n, reserved };
  const decoded = decodeMessage(encodeMessage(original));
  assert.deepEqual(decoded, original);
  assert.equal(typeof decoded.msgid, 'bigint');
  assert.equal(msgidString(decoded.msgid), '18446744073709551615');
});

test('a small msgid still decodes as a BigInt', () => {
  assert.equal(decodeMessage(encodeMessage({ opt: 1, status: 0, msgid: 7n })).msgid, 7n);
});

test('a buffer of the wrong size is refused', () => {
  assert.throws(() => decodeMessage(Buffer.alloc(63)), RangeError);
});
