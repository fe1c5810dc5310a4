/**
 * What the checkpoint MAC costs (issue 18): a checkpoint file is signed with HMAC-SHA256 where
 * it had a SHA-256, computed as it is written, again as it is read back, and once more as a
 * recovery unpacks it. On the same 1 GiB archive (an images directory of 1 GiB of pages, packed
 * as a checkpoint is), times SHA-256 and the HMAC (archive-mac.ts's signing and verified, as the
 * agent runs them) over its bytes, and writeArchive as a whole (pack, sign, write, fsync, read
 * back); the whole as it was with SHA-256 is that, less the two HMAC passes, plus the two SHA-256
 * ones. Median of N runs each, interleaved; prints a table with the ratios.
 *
 *   npm run bench:checkpoint -- [--mib 1024] [--runs 5]
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { signing, verified } from '../agent/src/archive-mac.js';
import { writeArchive } from '../agent/src/checkpoint-file.js';
import { CHUNK } from '../agent/src/image-archive.js';
import { median } from './table.js';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, runs: { type: 'string', default: '5' } } });
const mib = Number(values.mib);
const runs = Number(values.runs);

const discard = () => new Writable({ write: (_chunk, _enc, done) => done() });

async function timed(run: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'godwit-bench-ckpt-'));
  try {
    const images = join(work, 'images');
    mkdirSync(images, { mode: 0o700 });
    const pages = Buffer.allocUnsafe(mib * 1024 * 1024);
    for (let at = 0; at < pages.length; at += 1 << 26) randomFillSync(pages, at, Math.min(1 << 26, pages.length - at));
    writeFileSync(join(images, 'pages-1.img'), pages);
    writeFileSync(join(images, 'godwit.json'), '{"processId":1}');
    for (const name of ['core-1.img', 'mm-1.img', 'pagemap-1.img', 'pstree.img', 'inventory.img']) writeFileSync(join(images, name), randomBytes(4096));
    const key = randomBytes(32);
    const target = join(work, 'ckpt.1');

    // the archive's bytes, in the reads the agent makes
    const { mac } = await writeArchive(images, target, key);
    const file = readFileSync(target);
    const chunks: Buffer[] = [];
    for (let at = 0; at < file.length; at += CHUNK) chunks.push(file.subarray(at, at + CHUNK));
    const fileChunks = () => Readable.from(chunks, { objectMode: false });
    const tarChunks = () => Readable.from(chunks.map((c, i) => (i === chunks.length - 1 ? c.subarray(0, c.length - 40) : c)), { objectMode: false });

    const sha = { write: [] as number[], read: [] as number[] };
    const hmac = { write: [] as number[], read: [] as number[] };
    const whole: number[] = [];
    for (let r = 0; r < runs; r++) {
      sha.write.push(await timed(async () => {
        const hash = createHash('sha256');
        const feed = new Transform({ transform: (chunk: Buffer, _e, done) => { hash.update(chunk); done(null, chunk); } });
        await pipeline(tarChunks(), feed, discard());
        hash.digest();
      }));
      hmac.write.push(await timed(() => pipeline(tarChunks(), signing(key).stream, discard())));
      sha.read.push(await timed(async () => {
        const hash = createHash('sha256');
        for await (const chunk of fileChunks()) hash.update(chunk as Buffer);
        hash.digest();
      }));
      hmac.read.push(await timed(async () => {
        for await (const _chunk of verified(fileChunks(), key, mac, (why) => new Error(why)));
      }));
      rmSync(target);
      whole.push(await timed(() => writeArchive(images, target, key)));
    }
    const m = (xs: number[]) => median(xs);
    const before = m(whole) - m(hmac.write) - m(hmac.read) + m(sha.write) + m(sha.read);
    const row = (what: string, a: number, b: number) => `| ${what} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(b / a).toFixed(3)} |`;
    process.stdout.write([
      `checkpoint of ${mib} MiB of pages (${file.length} bytes), median of ${runs}, ms`,
      '',
      '| step | SHA-256 | HMAC-SHA256 | ratio |',
      '|---|---|---|---|',
      row('hash as the file is written', m(sha.write), m(hmac.write)),
      row('hash as it is read back (and as a recovery unpacks it)', m(sha.read), m(hmac.read)),
      row('writeArchive whole (pack, hash, write, fsync, read back)', before, m(whole)),
      '',
      'writeArchive with SHA-256 = with the MAC, less its two HMAC passes, plus two SHA-256 ones',
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
