// The devices layer: the Device interface, its backends (io_uring, node:fs, NBD), the factory
// that picks one, and the superblocks that say which array a device belongs to.
export type { BackendName, Device, DeviceDescription, DeviceExtent } from './device.js';
export { openDevice, backendReport, createImageFile, isNbdUrl } from './open_device.js';
export type { BackendChoice, BackendReport, BackendAvailability, OpenDeviceOptions } from './open_device.js';
export { openFsDevice, FsDevice } from './fs_device.js';
export type { FsDeviceOptions } from './fs_device.js';
export { openNbdDevice, parseNbdUrl, NbdDevice, NBD_CONNECT_TIMEOUT_MS_DEFAULT, NBD_REQUEST_TIMEOUT_MS_DEFAULT, NBD_INFLIGHT_MAX_DEFAULT } from './nbd_device.js';
export type { NbdDeviceOptions, NbdAddress } from './nbd_device.js';
export { openUringDevice, registerUringArena } from './uring_device.js';
export { uringAvailable } from './uring_native.js';
export {
  SUPERBLOCK_BYTES,
  SUPERBLOCK_DEVICE_BYTES_MIN,
  SUPERBLOCK_FORMAT_VERSION,
  SUPERBLOCK_MAGIC,
  SUPERBLOCK_RESERVED_LB,
  chooseSuperblock,
  claimDevice,
  dataRangeLb,
  decodeSuperblock,
  encodeSuperblock,
  newSuperblock,
  readSuperblocks,
  writeSuperblocks,
} from './superblock.js';
export type { Superblock, SuperblockCopies, SuperblockCopy } from './superblock.js';
export { DEFAULT_SCAN_PATTERNS, SCAN_PATTERNS_ENV, PROBE_TIMEOUT_MS_LOCAL_DEFAULT, PROBE_TIMEOUT_MS_NBD_DEFAULT, SCAN_CONCURRENCY_DEFAULT, DuplicateDeviceError, scanPatterns, expandScanPatterns, probeSuperblock, scanForDevices, findDeviceByUuid, type ProbeResult, type ProbeFound, type ProbeNotFound, type ProbeOptions, type ScanOptions, type ScanReport, type ScannedArray, type ScanConflict, type FoundDevice } from './device_scan.js';
