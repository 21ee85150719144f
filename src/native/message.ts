// struct hv_vss_opt_msg, 64 bytes: the only thing that crosses the device.
import { koffi } from './koffi-addon.ts';
import { MESSAGE_SIZE } from '../protocol/hv-vss.ts';

export const HvVssOptMsg = koffi.struct('hv_vss_opt_msg', {
  opt: 'uint32_t',
  status: 'uint32_t',
  msgid: 'uint64_t',
  reserved: koffi.array('uint8_t', 48),
});

if (koffi.sizeof(HvVssOptMsg) !== MESSAGE_SIZE) {
  throw new Error(`hv_vss_opt_msg is ${koffi.sizeof(HvVssOptMsg)} bytes here, expected ${MESSAGE_SIZE}`);
}

export interface VssMessage {
  readonly opt: number;
  readonly status: number;
  /** A nanosecond timestamp above 2^53: always a BigInt, never a number (it would round). */
  readonly msgid: bigint;
  /** All zero in every valid message; kept so a malformed one can be reported. */
  readonly reserved: Uint8Array;
}

const ZERO_RESERVED = new Uint8Array(48);

export function encodeMessage(msg: { opt: number; status: number; msgid: bigint; reserved?: Uint8Array }): Buffer {
  const buf = Buffer.alloc(MESSAGE_SIZE);
  koffi.encode(buf, HvVssOptMsg, {
    opt: msg.opt,
    status: msg.status,
    msgid: msg.msgid,
    reserved: Array.from(msg.reserved ?? ZERO_RESERVED),
  });
  return buf;
}

export function decodeMessage(buf: Uint8Array): VssMessage {
  if (buf.length !== MESSAGE_SIZE) throw new RangeError(`hv_vss_opt_msg must be ${MESSAGE_SIZE} bytes, got ${buf.length}`);
  const raw = koffi.decode(buf, HvVssOptMsg) as { opt: number; status: number; msgid: number | bigint; reserved: ArrayLike<number> };
  return { opt: raw.opt, status: raw.status, msgid: BigInt(raw.msgid), reserved: Uint8Array.from(raw.reserved) };
}

/** The decimal form used wherever a msgid leaves the process (logs, JSON, environment). */
export function msgidString(msgid: bigint): string {
  return msgid.toString(10);
}
