/** Where an entry's data lies in a tar (or in a checkpoint file: a tar, then its MAC trailer), to change a byte of it. */
export function entryData(archive: Buffer, name: RegExp): { name: string; offset: number; size: number } {
  const field = (from: number, to: number, at: number) => archive.subarray(at + from, at + to).toString('latin1').replace(/\0[^]*$/, '');
  for (let at = 0; at + 512 <= archive.length; ) {
    const entry = field(0, 100, at);
    if (!entry) break;
    const size = parseInt(field(124, 136, at).trim(), 8);
    if (name.test(entry)) return { name: entry, offset: at + 512, size };
    at += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`no entry matching ${name} in the archive`);
}
