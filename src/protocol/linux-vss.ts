// Linux's VSS channel, /dev/vmbus/hv_vss: the contract shared by the agent (src/native/
// linux-vss-device.ts) and the emulated kernel (src/emulator/linux-vss-kernel.ts). Read from the
// kernel's sources (docs/protocol.md, "Linux guests", names the files and commits):
//   uapi  include/uapi/linux/hyperv.h          (torvalds/linux 2cc2c3cb)
//   snap  drivers/hv/hv_snapshot.c             (intel-lab-lkp/linux 3cb7a973)
//   hvt   drivers/hv/hv_utils_transport.c      (intel-lab-lkp/linux c8d4849a)
//   vmbus drivers/hv/hyperv_vmbus.h            (HV_UTIL_TIMEOUT)
//   agent tools/hv/hv_vss_daemon.c             (kernelorg-mirror/linux_kernel_git_sfr_linux fc45f897)

/**
 * struct hv_vss_msg (uapi), packed, 12 bytes: a union of `struct hv_vss_hdr { u8 operation;
 * u8 reserved[7]; }` and `int error` (so `error` overlays `operation`), then a union of
 * `vss_cf.flags` and `dm_info.flags` (u32).
 */
export const LINUX_MESSAGE_SIZE = 12;
export const OFFSET_OPERATION = 0;
export const OFFSET_ERROR = 0;
export const OFFSET_FLAGS = 8;

/** enum hv_vss_op (uapi). FREEZE and THAW need IC version >= 5.0. */
export const LinuxVssOp = {
  CREATE: 0,
  DELETE: 1,
  HOT_BACKUP: 2,
  GET_DM_INFO: 3,
  BU_COMPLETE: 4,
  FREEZE: 5,
  THAW: 6,
  AUTO_RECOVER: 7,
} as const;

/**
 * Registration (uapi): VSS_OP_REGISTER (legacy) gets no reply and, on the char device, never
 * makes the channel ready (vss_handle_handshake in snap: only REGISTER1 queues the reply whose
 * read calls vss_register_done). VSS_OP_REGISTER1 is answered with a bare 4-byte value, 129.
 */
export const VSS_OP_REGISTER = 128;
export const VSS_OP_REGISTER1 = 129;
/** The handshake's reply is `u32 our_ver = VSS_OP_REGISTER1` (vss_handle_handshake), 4 bytes. */
export const HANDSHAKE_REPLY_SIZE = 4;

/** Status codes (uapi): what the host gets as the transaction's status. */
export const HV_S_OK = 0x0000_0000;
export const HV_E_FAIL = 0x8000_4005;

/**
 * VSS_HBU_NO_AUTO_RECOVERY (uapi). vss_on_msg (snap) sets it in the host's flags only when byte
 * 0 of the agent's answer is VSS_OP_HOT_BACKUP (2). Since `error` overlays that byte, an answer
 * with error = HV_S_OK (byte 0 = 0) leaves the host's flags as they came, and so does HV_E_FAIL
 * (byte 0 = 0x05): hv_vss_daemon answers HOT_BACKUP exactly so, and so does hvvss.
 */
export const VSS_HBU_NO_AUTO_RECOVERY = 5;

/** The ops the kernel hands to the agent (vss_handle_request in snap); it answers the others itself. */
export type LinuxAgentOp = 'hot-backup' | 'freeze' | 'thaw';

const AGENT_OP_BY_CODE: Readonly<Record<number, LinuxAgentOp>> = { 2: 'hot-backup', 5: 'freeze', 6: 'thaw' };
const CODE_BY_AGENT_OP: Readonly<Record<LinuxAgentOp, number>> = { 'hot-backup': 2, freeze: 5, thaw: 6 };
const NAMES: Readonly<Record<number, string>> = {
  0: 'CREATE',
  1: 'DELETE',
  2: 'HOT_BACKUP',
  3: 'GET_DM_INFO',
  4: 'BU_COMPLETE',
  5: 'FREEZE',
  6: 'THAW',
  7: 'AUTO_RECOVER',
  128: 'REGISTER',
  129: 'REGISTER1',
};

export function linuxOpFromCode(code: number): LinuxAgentOp | undefined {
  return AGENT_OP_BY_CODE[code];
}

export function codeFromLinuxOp(op: LinuxAgentOp): number {
  return CODE_BY_AGENT_OP[op];
}

/** A name for any operation byte (for logs and events). */
export function linuxOpName(code: number): string {
  return NAMES[code] ?? `unknown operation ${code}`;
}

/**
 * The limits, armed by vss_send_op (snap) when the request is queued for the agent, before the
 * agent has read it: VSS_FREEZE_TIMEOUT (15 * 60 s) for FREEZE, HV_UTIL_TIMEOUT (30 s, vmbus)
 * for the others. On expiry the host gets HV_E_FAIL (vss_timeout_func) and a later answer is
 * refused with EINVAL (vss_on_msg: the state is no longer HVUTIL_USERSPACE_REQ).
 */
export const LINUX_FREEZE_TIMEOUT_MS = 15 * 60 * 1000;
export const LINUX_UTIL_TIMEOUT_MS = 30 * 1000;

export interface LinuxKernelLimits {
  /** FREEZE's limit. */
  readonly freezeMs: number;
  /** HOT_BACKUP's and THAW's limit. */
  readonly otherMs: number;
}

export const LINUX_KERNEL_LIMITS: LinuxKernelLimits = { freezeMs: LINUX_FREEZE_TIMEOUT_MS, otherMs: LINUX_UTIL_TIMEOUT_MS };

export function linuxLimitFor(code: number, limits: LinuxKernelLimits = LINUX_KERNEL_LIMITS): number {
  return code === LinuxVssOp.FREEZE ? limits.freezeMs : limits.otherMs;
}

/** The device: vss_devname "vmbus/hv_vss" (snap), a misc device under /dev. */
export const LINUX_DEVICE = '/dev/vmbus/hv_vss';

/** A request as the kernel queues it (vss_send_op): zeroed, with only `operation` set. */
export function encodeLinuxRequest(code: number, flags = 0): Buffer {
  const buf = Buffer.alloc(LINUX_MESSAGE_SIZE);
  buf.writeUInt8(code, OFFSET_OPERATION);
  buf.writeUInt32LE(flags >>> 0, OFFSET_FLAGS);
  return buf;
}

/** The registration message: byte 0 = REGISTER1, the rest zero (hv_vss_daemon's main()). */
export function encodeRegister(code: number = VSS_OP_REGISTER1): Buffer {
  return encodeLinuxRequest(code);
}

/**
 * The answer: the message as read with `error` written over bytes 0-3, as hv_vss_daemon does
 * (`vss_msg->error = error; write(...)`). The host's status is `error` as written (vss_on_msg
 * passes vss_msg->error to vss_respond_to_host).
 */
export function encodeLinuxAnswer(request: Buffer, error: number): Buffer {
  const buf = Buffer.from(request.subarray(0, LINUX_MESSAGE_SIZE));
  buf.writeUInt32LE(error >>> 0, OFFSET_ERROR);
  return buf;
}

export interface DecodedLinuxMessage {
  readonly operation: number;
  /** bytes 0-3 as the int the kernel reads (unsigned here: HV_E_FAIL is 0x80004005). */
  readonly error: number;
  readonly flags: number;
}

export function decodeLinuxMessage(buf: Uint8Array): DecodedLinuxMessage {
  if (buf.length !== LINUX_MESSAGE_SIZE) throw new RangeError(`hv_vss_msg must be ${LINUX_MESSAGE_SIZE} bytes, got ${buf.length}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  return { operation: b.readUInt8(OFFSET_OPERATION), error: b.readUInt32LE(OFFSET_ERROR), flags: b.readUInt32LE(OFFSET_FLAGS) };
}

/** Which protocol a device path speaks, by its name; undefined when the name does not tell. */
export function protocolOfDevice(path: string): 'linux' | 'freebsd' | undefined {
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (name === 'hv_vss') return 'linux';
  if (name === 'hv_appvss_dev' || name === 'hv_fsvss_dev') return 'freebsd';
  return undefined;
}
