// elastripe's public entry: the array, its errors, and the layers below for those who embed
// only a part (the Codec over the shared arena, or the device backends).
export * from './array/index.js';
export * from './errors.js';
export { LB_BYTES } from './constants.js';
export { Arena, Codec, CHECKSUM_BYTES } from './kernels/index.js';
export { openDevice, backendReport, createImageFile } from './devices/index.js';
export type { Device, DeviceDescription, DeviceExtent, BackendName, OpenDeviceOptions } from './devices/index.js';
