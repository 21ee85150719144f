// The hv_vss(4) contract shared by the agent and the emulated kernel: operations, statuses,
// device paths and the kernel's time limit. docs/protocol.md gives the full state machine, each
// rule with the lines of FreeBSD's hv_snapshot.c / hv_snapshot.h it comes from.

export const VSS_SUCCESS = 0;
export const VSS_FAIL = 1;

/** enum hv_vss_op_t (hv_snapshot.h). Only CHECK, FREEZE and THAW ever reach a device. */
export const VssOpCode = { NONE: 0, CHECK: 1, FREEZE: 2, THAW: 3 } as const;

export type VssOp = 'check' | 'freeze' | 'thaw';

const OP_BY_CODE: Readonly<Record<number, VssOp>> = { 1: 'check', 2: 'freeze', 3: 'thaw' };
const CODE_BY_OP: Readonly<Record<VssOp, number>> = { check: 1, freeze: 2, thaw: 3 };

/** The operation a code stands for, or undefined for anything the kernel should never send. */
export function opFromCode(opt: number): VssOp | undefined {
  return OP_BY_CODE[opt];
}

export function codeFromOp(op: VssOp): number {
  return CODE_BY_OP[op];
}

/** A human name for any opt value, known or not (for logs). */
export function opName(opt: number): string {
  return OP_BY_CODE[opt] ?? `unknown operation ${opt}`;
}

export const APP_DEVICE = '/dev/hv_appvss_dev';
export const FS_DEVICE = '/dev/hv_fsvss_dev';
/** --fs-device none: hv_vss_daemon keeps the fs device; the mounts freeze inside the application FREEZE. */
export const NO_FS_DEVICE = 'none';

/**
 * TIMEOUT_LIMIT: armed once when the transaction starts, never restarted, so it covers the app
 * stage and the fs stage together; the clock runs before any agent has read the request.
 */
export const KERNEL_TIMEOUT_MS = 15_000;

/** Flag the driver sets on every reply to a CHECK, failures and timeouts included. */
export const VSS_HBU_NO_AUTO_RECOVERY = 5;

/**
 * The ioctl numbers: _IOR('v', 2, msg) to read a request, _IOW('v', 3, msg) to answer it. The
 * write is _IOW, so nothing comes back: the caller cannot tell whether its answer counted.
 */
export const IOCTL_GROUP = 'v';
export const IOCTL_READ_NR = 2;
export const IOCTL_WRITE_NR = 3;
export const MESSAGE_SIZE = 64;
