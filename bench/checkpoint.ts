/**
 * What encrypting checkpoints at rest costs (issue 19): on the same images directory (1 GiB of
 * pages and the small images beside them), a checkpoint written as the agent writes one
 * (writeArchive: pack, seal, write, fsync, read back) and recovered as the agent stages one
 * (readArchive into the image store, each segment verified before it is unpacked), with
 * encryption on and off (agent config encryptAtRest: false: authenticated only); a freeze's
 * images kept at rest as the agent keeps them once CRIU's dump ended (keepAtRest: pack, seal,
 * write, fsync, read back, remove the images in clear) and unpacked for the restore of a
 * `continue` by a restarted agent (thaw: read, verify, decrypt, unpack); and the seal alone, in
 * memory, both ways. Median of N runs each, interleaved; prints a table with the ratios
 * and the machine's load average while it ran.
 *
 * Then compression (issue 23): the same images with a python program's real memory as their
 * pages (python-memory.ts: about --mib MiB of objects), a checkpoint written and recovered with
 * compression off and on, encryption off and on, interleaved: the file's bytes and the times.
 *
 *   npm run bench:checkpoint -- [--mib 1024] [--runs 5]
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
import { writePythonMemory } from './python-memory.js';
import { markdownTable, median, spread, timed } from './table.js';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, runs: { type: 'string', default: '5' } } });
const mib = Number(values.mib);
const runs = Number(values.runs);

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'godwit-bench-ckpt-'));
  const loadBefore = loadavg()[0]!;
  try {
    const images = join(work, 'images');
    mkdirSync(images, { mode: 0o700 });
    const pages = Buffer.allocUnsafe(mib * 1024 * 1024);
    for (let at = 0; at < pages.length; at += 1 << 26) randomFillSync(pages, at, Math.min(1 << 26, pages.length - at));
    writeFileSync(join(images, 'pages-1.img'), pages);
    writeFileSync(join(images, 'godwit.json'), '{"processId":1,"epoch":0,"lockTables":[]}');
    for (const name of ['core-1.img', 'mm-1.img', 'pagemap-1.img', 'pstree.img', 'inventory.img']) writeFileSync(join(images, name), randomBytes(4096));
    const seal: SealKey = { key: randomBytes(32), context: 'checkpoint bench/ckpt.1' };
    const chunks: Buffer[] = [];
    for (let at = 0; at < pages.length; at += CHUNK) chunks.push(pages.subarray(at, at + CHUNK));

    const modes = [{ name: 'off', encrypt: false }, { name: 'on', encrypt: true }] as const;
    const t = { seal: { off: [] as number[], on: [] as number[] }, open: { off: [] as number[], on: [] as number[] }, write: { off: [] as number[], on: [] as number[] }, recover: { off: [] as number[], on: [] as number[] }, freeze: { off: [] as number[], on: [] as number[] }, thaw: { off: [] as number[], on: [] as number[] } };
    const owner = { processId: 1, epoch: 0, account: 'bench' };
    for (let r = 0; r < runs; r++) {
      for (const { name, encrypt } of modes) {
        const sealed: Buffer[] = [];
        t.seal[name].push(await timed(() => pipeline(Readable.from(chunks), sealing(seal, encrypt).stream, new Writable({ write: (c: Buffer, _e, done) => { sealed.push(c); done(); } }))));
        t.open[name].push(await timed(async () => {
          for await (const _plain of opened(Readable.from(sealed), seal, undefined, (why) => new Error(why)));
        }));
        const target = join(work, `ckpt-${name}.1`);
        let mac = '';
        t.write[name].push(await timed(async () => ({ mac } = await writeArchive(images, target, seal, { encrypt }))));
        const store = createImageStore(join(work, 'data'), {} as Criu, seal.key);
        t.recover[name].push(await timed(() => readArchive(target, seal, mac, (tar) => store.unpackVerified(1, tar), (why) => new Error(why))));
        await store.remove(1);
        rmSync(target);
        // the freeze's images as CRIU's dump left them (the copy untimed), then kept at rest
        cpSync(images, await store.fresh(2), { recursive: true });
        t.freeze[name].push(await timed(() => store.keepAtRest(2, owner, encrypt)));
        // a restarted agent: nothing vouches for them but their file
        const restarted = createImageStore(join(work, 'data'), {} as Criu, seal.key);
        t.thaw[name].push(await timed(() => restarted.thaw(2, owner)));
        await restarted.remove(2);
      }
    }
    const compression = await compressionRows(work, images, seal);
    const row = (what: string, xs: { off: number[]; on: number[] }) => {
      const ratio = Math.round((median(xs.on) / median(xs.off)) * 100) / 100;
      return [what, spread(xs.off), spread(xs.on), ratio.toFixed(2)];
    };
    process.stdout.write([
      `checkpoint and freeze of ${mib} MiB of pages, median (min-max) of ${runs} runs, ms; load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end (${cpus().length} CPUs)`,
      '',
      markdownTable(['step', 'encryption off', 'encryption on', 'on/off'], [
        row('seal alone, in memory', t.seal),
        row('open alone (verify, decrypt), in memory', t.open),
        row('checkpoint written (pack, seal, write, fsync, read back)', t.write),
        row('checkpoint recovered (read, verify, decrypt, unpack)', t.recover),
        row('freeze kept at rest (pack, seal, write, fsync, read back, remove)', t.freeze),
        row('continue unpacked (read, verify, decrypt, unpack)', t.thaw),
      ]),
      '',
      compression,
      '',
    ].join('\n'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * A checkpoint of a python program's memory written and recovered with compression off and on,
 * encryption off and on, interleaved: its bytes and times, as a table.
 */
async function compressionRows(work: string, images: string, seal: SealKey): Promise<string> {
  const py = join(work, 'python-images');
  cpSync(images, py, { recursive: true });
  const memory = await writePythonMemory(mib, join(py, 'pages-1.img'));
  const combos = [[false, false], [false, true], [true, false], [true, true]] as const;
  const t = combos.map(() => ({ bytes: 0, plainBytes: 0, write: [] as number[], recover: [] as number[] }));
  for (let r = 0; r < runs; r++) {
    for (const [i, [compress, encrypt]] of combos.entries()) {
      const target = join(work, 'python.1');
      let written = { bytes: 0, plainBytes: 0, mac: '' };
      t[i]!.write.push(await timed(async () => (written = await writeArchive(py, target, seal, { encrypt, compress }))));
      t[i]!.bytes = written.bytes;
      t[i]!.plainBytes = written.plainBytes;
      const store = createImageStore(join(work, 'data'), {} as Criu, seal.key);
      t[i]!.recover.push(await timed(() => readArchive(target, seal, written.mac, (tar) => store.unpackVerified(3, tar), (why) => new Error(why))));
      await store.remove(3);
      rmSync(target);
    }
  }
  const gb = (bytes: number, ms: number) => (bytes / 1e9 / (ms / 1000)).toFixed(2);
  return [
    `checkpoint of a python program's memory (${memory} bytes of its writable mappings, holding about ${mib} MiB of objects), median (min-max) of ${runs} runs, ms; GB/s of the program's memory`,
    '',
    markdownTable(['compression', 'encryption', 'file bytes', 'ratio', 'written (pack, seal, write, fsync, read back)', 'written GB/s', 'recovered (read, verify, unpack)', 'recovered GB/s'],
      combos.map(([compress, encrypt], i) => {
        const x = t[i]!;
        return [compress ? 'LZ4' : 'off', encrypt ? 'on' : 'off', String(x.bytes), (x.plainBytes / x.bytes).toFixed(2), spread(x.write), gb(memory, median(x.write)), spread(x.recover), gb(memory, median(x.recover))];
      })),
  ].join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:checkpoint: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
