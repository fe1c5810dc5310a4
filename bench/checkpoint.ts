/**
 * What encrypting checkpoints at rest costs (issue 19): on the same images directory (1 GiB of
 * pages and the small images beside them), a checkpoint written as the agent writes one
 * (writeArchive: pack, seal, write, fsync, read back) and recovered as the agent stages one
 * (readArchive into the image store, each segment verified before it is unpacked), with
 * encryption on and off (agent config encryptAtRest: false: authenticated only); and the seal
 * alone, in memory, both ways. Median of N runs each, interleaved; prints a table with the ratios
 * and the machine's load average while it ran.
 *
 *   npm run bench:checkpoint -- [--mib 1024] [--runs 5]
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { opened, sealing, type SealKey } from '../agent/src/at-rest.js';
import { readArchive, writeArchive } from '../agent/src/checkpoint-file.js';
import type { Criu } from '../agent/src/criu.js';
import { CHUNK } from '../agent/src/image-archive.js';
import { createImageStore } from '../agent/src/images.js';
import { markdownTable, median, spread } from './table.js';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, runs: { type: 'string', default: '5' } } });
const mib = Number(values.mib);
const runs = Number(values.runs);

async function timed(run: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'godwit-bench-ckpt-'));
  const loadBefore = loadavg()[0]!;
  try {
    const images = join(work, 'images');
    mkdirSync(images, { mode: 0o700 });
    const pages = Buffer.allocUnsafe(mib * 1024 * 1024);
    for (let at = 0; at < pages.length; at += 1 << 26) randomFillSync(pages, at, Math.min(1 << 26, pages.length - at));
    writeFileSync(join(images, 'pages-1.img'), pages);
    writeFileSync(join(images, 'godwit.json'), '{"processId":1}');
    for (const name of ['core-1.img', 'mm-1.img', 'pagemap-1.img', 'pstree.img', 'inventory.img']) writeFileSync(join(images, name), randomBytes(4096));
    const seal: SealKey = { key: randomBytes(32), context: 'checkpoint bench/ckpt.1' };
    const chunks: Buffer[] = [];
    for (let at = 0; at < pages.length; at += CHUNK) chunks.push(pages.subarray(at, at + CHUNK));

    const modes = [{ name: 'off', encrypt: false }, { name: 'on', encrypt: true }] as const;
    const t = { seal: { off: [] as number[], on: [] as number[] }, open: { off: [] as number[], on: [] as number[] }, write: { off: [] as number[], on: [] as number[] }, recover: { off: [] as number[], on: [] as number[] } };
    for (let r = 0; r < runs; r++) {
      for (const { name, encrypt } of modes) {
        const sealed: Buffer[] = [];
        t.seal[name].push(await timed(() => pipeline(Readable.from(chunks), sealing(seal, encrypt).stream, new Writable({ write: (c: Buffer, _e, done) => { sealed.push(c); done(); } }))));
        t.open[name].push(await timed(async () => {
          for await (const _plain of opened(Readable.from(sealed), seal, undefined, (why) => new Error(why)));
        }));
        const target = join(work, `ckpt-${name}.1`);
        let mac = '';
        t.write[name].push(await timed(async () => ({ mac } = await writeArchive(images, target, seal, encrypt))));
        const store = createImageStore(join(work, 'data'), {} as Criu, seal.key);
        t.recover[name].push(await timed(() => readArchive(target, seal, mac, (tar) => store.unpackVerified(1, tar), (why) => new Error(why))));
        await store.remove(1);
        rmSync(target);
      }
    }
    const row = (what: string, xs: { off: number[]; on: number[] }) => {
      const ratio = Math.round((median(xs.on) / median(xs.off)) * 100) / 100;
      return [what, spread(xs.off), spread(xs.on), ratio.toFixed(2)];
    };
    process.stdout.write([
      `checkpoint of ${mib} MiB of pages, median (min-max) of ${runs} runs, ms; load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end (${cpus().length} CPUs)`,
      '',
      markdownTable(['step', 'encryption off', 'encryption on', 'on/off'], [
        row('seal alone, in memory', t.seal),
        row('open alone (verify, decrypt), in memory', t.open),
        row('checkpoint written (pack, seal, write, fsync, read back)', t.write),
        row('checkpoint recovered (read, verify, decrypt, unpack)', t.recover),
      ]),
      '',
    ].join('\n'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:checkpoint: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
