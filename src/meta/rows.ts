// Row shapes of the metadata tables, as the store returns and accepts them.

export interface DeviceRow {
  deviceId: number;
  uuid: string;
  path: string;
  capacityLb: number;
  dataStartLb: number;
  dataEndLb: number;
  /** 'draining': being removed (readable, no new blocks) until the remove finishes or is cancelled. */
  /** 'spare': a hot spare (online, no new groups; a rebuild may use it, which makes it 'online'). */
  state: 'online' | 'draining' | 'spare' | 'failed' | 'removed';
  addedMs: number;
}

/** A device away (missing), or back and not resynced yet: see schema version 6. */
export interface DeviceAwayRow {
  deviceId: number;
  sinceMs: number;
  /** The newest group id committed before it left. */
  watermarkGroupId: number;
  /** The newest change-set seq committed before it left. */
  sinceSeq: number;
}

export interface FileRow {
  fileId: number;
  name: string;
  sizeBytes: number;
  createdMs: number;
}

export interface GroupRow {
  groupId: number;
  fileId: number;
  sequence: number;
  dataCount: number;
  parityCount: number;
  extentLb: number;
  lengthBytes: number;
}

export interface ExtentRow {
  extentId: number;
  groupId: number;
  deviceId: number;
  startLb: number;
  lengthLb: number;
  role: 'data' | 'parity';
  index: number;
  checksum: Buffer;
}

export interface GroupWithExtents extends GroupRow {
  extents: ExtentRow[];
}

/** A group with its extents and where its bytes start in its file. */
export interface PlacedGroup extends GroupWithExtents {
  fileOffset: number;
}

export interface NewExtent {
  deviceId: number;
  startLb: number;
  lengthLb: number;
  role: 'data' | 'parity';
  index: number;
  checksum: Uint8Array;
}

export interface NewGroup {
  sequence: number;
  dataCount: number;
  parityCount: number;
  extentLb: number;
  lengthBytes: number;
  extents: NewExtent[];
}

/** One extent moving to another place (rebuild, evacuate, rebalance). */
export interface ExtentMove {
  extentId: number;
  fromDeviceId: number;
  fromStartLb: number;
  toDeviceId: number;
  toStartLb: number;
}

export interface JobRow {
  jobId: number;
  kind: string;
  state: 'running' | 'done' | 'incomplete' | 'aborted' | 'failed' | 'interrupted';
  /** JSON text: what the job had done when last updated. */
  cursor: string | null;
  createdMs: number;
  updatedMs: number;
}
