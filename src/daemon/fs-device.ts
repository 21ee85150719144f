// Opening hv_fsvss_dev for the fs role. The kernel lets one process have it, and on FreeBSD
// that is hv_vss_daemon, which devd(8) starts from /etc/devd/hyperv.conf whenever the device
// appears ("notify 11 ... match cdev hv_fsvss_dev; action /usr/sbin/hv_vss_daemon"): killing it
// is not enough, the next boot or driver reattach starts it again.
import { VssDevice, VssDeviceError, type VssDeviceOptions } from '../native/vss-device.ts';

export { FS_DEVICE, NO_FS_DEVICE } from '../protocol/hv-vss.ts';

export function fsDeviceBusyMessage(path: string): string {
  return (
    `${path} is busy: the fs daemon hv_vss_daemon (or another fs agent) has it open, and the kernel allows only one. ` +
    `To let hvvss take the fs role, stop hv_vss_daemon for good: devd(8) starts it from /etc/devd/hyperv.conf whenever ` +
    `hv_fsvss_dev appears, so comment out the "notify 11" block whose action is /usr/sbin/hv_vss_daemon (the CREATE one), ` +
    `run "service devd restart", then "pkill -x hv_vss_daemon" (find the holder with "fstat ${path}"; "fuser ${path}" on Linux). ` +
    `Or set hvvss_fs_enable="YES" in rc.conf: "service hvvss start" then stops it first. ` +
    `To leave the fs device to hv_vss_daemon instead, run with --fs-device none.`
  );
}

/** Registers as the fs daemon; a busy device throws an error that names hv_vss_daemon and the fix. */
export function openFsDevice(path: string, options: VssDeviceOptions): VssDevice {
  try {
    return VssDevice.open(path, options);
  } catch (err) {
    if (err instanceof VssDeviceError && err.code === 'EBUSY') throw new Error(fsDeviceBusyMessage(path), { cause: err });
    if (err instanceof VssDeviceError && err.code === 'ENOENT') {
      throw new Error(
        `${path} does not exist: the hv_vss(4) driver is not present, so there is no fs channel to serve. ` +
          `Point --fs-device (HVVSS_FS_DEVICE) at the fs device, or run with --fs-device none to freeze the mounts inside the application FREEZE.`,
        { cause: err },
      );
    }
    throw err;
  }
}
