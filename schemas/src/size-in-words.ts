/** Sizes as the messages of every part say them to people. */

const MIB = 1024 * 1024;

/** bytes in words a person reads at a glance: MiB to a tenth (no ".0"), bytes below one MiB */
export const sizeInWords = (bytes: number): string => (bytes >= MIB ? `${Number((bytes / MIB).toFixed(1))} MiB` : `${bytes} bytes`);
