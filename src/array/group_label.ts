// How messages name a group: as `stat NAME` shows it (the file, the group's place in it), with
// the id that scrub cursors and the metadata use. Used by fsck, scrub and resync problems and by
// the read path's errors, so one group is named alike everywhere.

/** `file "NAME" group SEQUENCE (id G)`; a file name is JSON-quoted (names may hold spaces or control characters), and a file that is gone is named by its id. */
export function groupLabel(group: { groupId: number; fileId: number; sequence: number }, fileName: string | undefined): string {
  const file = fileName !== undefined ? JSON.stringify(fileName) : `#${group.fileId} (no such file)`;
  return `file ${file} group ${group.sequence} (id ${group.groupId})`;
}
