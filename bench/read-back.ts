/**
 * What a checkpoint's read-back costs (issue 19): writeArchive reads the file it wrote back
 * before it replaces the last good one. It used to open it again (readArchive: every segment
 * decrypted, decompressed, its tag checked); it now compares the bytes on disk with the sealer's
 * output by a one-time GMAC taken as they were written (checkpoint-file.ts readsBack). On the same
 * images (--mib MiB of random pages), compression off and on, interleaved, median of N runs:
 * writeArchive as it is now, the old read-back (readArchive to nothing) and the new one
 * (readsBack, plus the GMAC taken while writing) on the file it wrote, and what writeArchive took
 * before: now - new read-back - GMAC while writing + old read-back.
 *
 *   node --import tsx bench/read-back.ts [--mib 256] [--runs 5]
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import type { SealKey } from '../agent/src/at-rest.js';
import { bytesMac, readArchive, readsBack, writeArchive } from '../agent/src/checkpoint-file.js';
import { CHUNK } from '../agent/src/image-archive.js';
import { markdownTable, median, spread, timed } from './table.js';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '256' }, runs: { type: 'string', default: '5' } } });
const mib = Number(values.mib);
const runs = Number(values.runs);

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'godwit-bench-read-back-'));
  const loadBefore = loadavg()[0]!;
  try {
    const images = join(work, 'images');
    mkdirSync(images, { mode: 0o700 });
    const pages = Buffer.allocUnsafe(mib * 1024 * 1024);
    // half random, half zeros: compression has something to do
    randomFillSync(pages, 0, pages.length / 2);
    pages.fill(0, pages.length / 2);
    writeFileSync(join(images, 'pages-1.img'), pages);
    writeFileSync(join(images, 'godwit.json'), '{"processId":1,"epoch":0,"lockTables":[]}');
    for (const name of ['core-1.img', 'mm-1.img', 'pagemap-1.img', 'pstree.img', 'inventory.img']) writeFileSync(join(images, name), randomBytes(4096));
    const seal: SealKey = { key: randomBytes(32), context: 'checkpoint bench/ckpt.1' };
    const file = join(work, 'ckpt', 'ckpt.1');
    const modes = [{ name: 'uncompressed', compress: false }, { name: 'compressed (LZ4)', compress: true }] as const;
    const t = modes.map(() => ({ now: [] as number[], oldBack: [] as number[], newBack: [] as number[], writeMac: [] as number[] }));
    for (let run = 0; run < runs; run++) {
      for (const [i, mode] of modes.entries()) {
        let mac = '';
        t[i]!.now.push(await timed(async () => (mac = (await writeArchive(images, file, seal, { encrypt: true, compress: mode.compress })).mac)));
        t[i]!.oldBack.push(await timed(() => readArchive(file, seal, mac, (tar) => pipeline(tar, new Writable({ write: (_c, _e, done) => done() })), (why) => new Error(why))));
        const bytes = readFileSync(file);
        const macKey = randomBytes(32);
        let digest: Buffer = Buffer.alloc(0);
        t[i]!.writeMac.push(await timed(async () => {
          const m = bytesMac(macKey);
          for (let at = 0; at < bytes.length; at += CHUNK) m.update(bytes.subarray(at, at + CHUNK));
          digest = m.digest();
        }));
        t[i]!.newBack.push(await timed(() => readsBack(file, macKey, digest)));
      }
    }
    const rows = modes.map((mode, i) => {
      const x = t[i]!;
      const before = x.now.map((now, r) => now - x.newBack[r]! - x.writeMac[r]! + x.oldBack[r]!);
      return [mode.name, spread(x.now), spread(before), `${(median(before) / median(x.now)).toFixed(2)}`, spread(x.oldBack), spread(x.newBack), spread(x.writeMac)];
    });
    console.log(`\nwriteArchive of ${mib} MiB of images, encrypted, ${runs} runs (ms, median (range)); load ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after\n`);
    console.log(markdownTable(['file', 'writeArchive now', 'writeArchive before', 'before / now', 'old read-back (open again)', 'new read-back (GMAC of the file)', 'GMAC while writing'], rows));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
