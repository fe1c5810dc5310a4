/**
 * A python program's memory as CRIU would dump it: its private writable mappings (heap, arenas),
 * read through /proc/PID/mem while it holds about `mib` MiB of the objects a service keeps
 * (dicts of strings and numbers, lists, byte strings). Realistic input for the compression rows
 * of bench:checkpoint, where random pages would compress not at all and zeros absurdly well.
 */
import { execa } from 'execa';
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';

const HOLD = [
  'import random, sys',
  'random.seed(1)',
  'target = int(sys.argv[1]) * 1024 * 1024',
  "names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi']",
  'rows, held = [], 0',
  'while held < target:',
  '    i = len(rows)',
  "    row = {'id': i, 'user': random.choice(names) + str(random.randrange(10000)), 'score': random.random(),",
  "           'tags': [random.choice(names) for _ in range(4)], 'blob': random.randbytes(32) * 4, 'note': 'order %d shipped' % i}",
  '    rows.append(row)',
  '    held += 420',
  "print('ready', flush=True)",
  'sys.stdin.read()',
].join('\n');

/** Writes the private writable memory of a python program holding about `mib` MiB of objects into `file`; returns its bytes. */
export async function writePythonMemory(mib: number, file: string): Promise<number> {
  const child = execa('python3', ['-c', HOLD, String(mib)], { stdin: 'pipe', stdout: 'pipe', buffer: false, reject: false });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        if (out.includes('ready')) resolve();
      });
      void child.then((r) => reject(new Error(`python3 ended before it held its memory: ${r.stderr ?? ''}`)));
    });
    const maps = readFileSync(`/proc/${child.pid}/maps`, 'utf8').split('\n');
    const mem = openSync(`/proc/${child.pid}/mem`, 'r');
    const outFd = openSync(file, 'w', 0o600);
    const buf = Buffer.allocUnsafe(1 << 20);
    let bytes = 0;
    try {
      for (const line of maps) {
        const [range, perms, , , inode] = line.split(/\s+/);
        if (!range || !perms?.startsWith('rw') || perms[3] !== 'p' || inode !== '0') continue;
        const [start, end] = range.split('-').map((x) => Number.parseInt(x, 16)) as [number, number];
        for (let at = start; at < end; at += buf.length) {
          const n = readSync(mem, buf, 0, Math.min(buf.length, end - at), at);
          writeSync(outFd, buf, 0, n);
          bytes += n;
        }
      }
    } finally {
      closeSync(mem);
      closeSync(outFd);
    }
    return bytes;
  } finally {
    child.stdin!.end();
    child.kill();
    await child;
  }
}
