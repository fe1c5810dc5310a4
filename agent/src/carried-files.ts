/**
 * The node-local files a move carries (carry-plan.ts says which): the one place that runs
 * godwit-carry (agent/keeper/carry.c). The source opens each file through /proc while the program
 * still holds it, packs its data extents into the images once the program is stopped (the files
 * ride in the sealed archive, authenticated as the images are), and removes its copies once the
 * move succeeded. The destination writes them at the same paths in its own node-local
 * directories, as the program's owner, never over a file already there and following no
 * symbolic link, before the restore, and removes them again if the restore fails.
 */
import { type Stats, closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { type AgentConfig, type CarriedPlace, GodwitError } from '@godwit/schemas';
import { keeperUser, type Account } from './accounts.js';
import { fileReason } from './as-owner.js';
import { errnoName } from './errno.js';
import { GONE, passingOver } from './expected-errors.js';
import { localDirOf } from './node-local.js';
import type { UsedFile } from './tree-files.js';

type NodeLocal = NonNullable<AgentConfig['nodeLocal']>;

/** the images' list of the files they carry */
export const CARRIED_MANIFEST = 'carried.json';

/** one carried file (or directory) as the images hold it */
export interface CarriedFile {
  /** as the program sees it */
  path: string;
  directory: boolean;
  /** a named pipe: made anew at the destination (CRIU's images hold what was in it) */
  fifo?: boolean;
  mode: number;
  size: number;
  atimeNs: string;
  mtimeNs: string;
  /** its data extents, OFF:LEN,... ("-": none); the data is the image file `data`, extent after extent */
  extents: string;
  data?: string;
  /** sent ahead while the program ran and unchanged since: the destination's staged file of that name (carry-ahead.ts) */
  staged?: string;
}

export interface CarriedManifest {
  /** the node that packed them: a restore there (a rollback, a continue) finds them in place */
  node: string;
  files: CarriedFile[];
}

/** one held file as packed: what the images say of it, and which version of it that was (dev:ino:size:mtime:ctime) */
export interface PackedFile {
  held: HeldFile;
  file: CarriedFile;
  identity: string;
}

/** a file at rel beneath root, which is the very file dev:ino changed last at ctimeNs (an inode number alone is reused) */
export interface PlacedFile {
  root: string;
  rel: string;
  dev: string;
  ino: string;
  ctimeNs: string;
}

export const carryHelperPath = (keeperPath: string): string => join(dirname(keeperPath), 'godwit-carry');

/**
 * Where the program's path lies on this machine: the node's directory for the node-local path it
 * is under, and the path beneath it. Undefined where nothing is carried: the node-local path
 * itself (every node has one), or, in a simulated cluster, a path outside its node-local ones,
 * which the simulated nodes all see alike.
 */
export function placeOf(local: NodeLocal | undefined, path: string): { root: string; rel: string } | undefined {
  if (!local) return path === '/' ? undefined : { root: '/', rel: path.slice(1) };
  const point = local.paths.filter((p) => path.startsWith(`${p}/`)).sort((a, b) => b.length - a.length)[0];
  return point ? { root: localDirOf(local, point), rel: path.slice(point.length + 1) } : undefined;
}

/** the carried files of a program, held open from before its dump, to be packed once it is stopped */
export interface HeldFile {
  used: UsedFile;
  /** a regular file's, held open; none for a directory or a FIFO (opening one would take part in it) */
  fd?: number;
  placed: PlacedFile;
  mode: number;
}

export interface HeldFiles {
  files: HeldFile[];
}

/** which version of a held file its descriptor shows now, as packCarried's identity says it */
export function identityOf(fd: number): string {
  const st = fstatSync(fd, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** the change time (ns) an identity holds */
export const ctimeOfIdentity = (identity: string): bigint => BigInt(identity.split(':')[4]!);

/**
 * Opens each carried regular file (and looks at each carried directory and FIFO) through /proc, as the
 * program holds it: what is packed later is that very file, whatever its path names by then.
 * Refuses, before anything stops, a file that is not the owner's: the destination writes it as theirs.
 */
export function holdCarried(local: NodeLocal | undefined, carried: readonly UsedFile[], owner: Account): HeldFiles {
  const held: HeldFiles = { files: [] };
  try {
    for (const used of carried) {
      const place = placeOf(local, used.path);
      if (!place || (used.kind !== 'file' && used.kind !== 'mapped' && used.kind !== 'directory' && used.kind !== 'fifo')) continue;
      const directory = used.kind === 'directory';
      const fifo = used.kind === 'fifo';
      const fd = directory || fifo ? undefined : passingOver(GONE, undefined, () => openSync(used.at, constants.O_RDONLY));
      const st = passingOver(GONE, undefined, () => (fd === undefined ? statSync(used.at, { bigint: true }) : fstatSync(fd, { bigint: true })));
      if (!st || (fifo && !st.isFIFO()) || (!directory && !fifo && (fd === undefined || !st.isFile()))) {
        if (fd !== undefined) closeSync(fd);
        continue; // closed while we looked
      }
      held.files.push({ used, ...(fd === undefined ? {} : { fd }), placed: { ...place, dev: String(st.dev), ino: String(st.ino), ctimeNs: String(st.ctimeNs) }, mode: Number(st.mode) & 0o7777 });
      if (!directory && Number(st.uid) !== owner.uid) {
        throw new GodwitError('GODWIT_ERR_CANNOT_DUMP', `it uses ${used.path}, which is not ${owner.name}'s (uid ${st.uid}): a move writes the files it carries as the program's owner; it runs on`, { path: used.path });
      }
    }
  } catch (err) {
    releaseHeld(held);
    throw err;
  }
  return held;
}

export function releaseHeld(held: HeldFiles): void {
  for (const f of held.files) if (f.fd !== undefined) closeSync(f.fd);
  held.files = [];
}

/** runs `godwit-carry pack` with the files at fds 3 and on (execa hands a child no descriptor of ours) */
function packWith(helper: string, imagesDir: string, fds: number[]): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(helper, ['pack', imagesDir, String(fds.length)], { stdio: ['ignore', 'pipe', 'pipe', ...fds], timeout: 10 * 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ exitCode, stdout, stderr }));
  });
}

/** one held regular file as a pre-copy sent it: its name in the stage, and its version (DEV:INO:SIZE:MTIME:CTIME) before and after it was read */
export interface SentFile {
  held: HeldFile;
  name: string;
  before: string;
  after: string;
}

/**
 * A pre-copy's stream (godwit-carry send): the owner's account on its first line, then each held
 * regular file's data extents read straight from its descriptor (no copy on disk). `sent`
 * resolves once the stream ended with what it sent of each; the stream fails where the helper did.
 */
export function streamCarried(helper: string, held: HeldFiles, account: string): { stream: Readable; sent: Promise<SentFile[]> } {
  const files = held.files.filter((f) => f.fd !== undefined);
  const child = spawn(helper, ['send', String(files.length)], { stdio: ['ignore', 'pipe', 'pipe', 'pipe', ...files.map((f) => f.fd!)], timeout: 10 * 60_000 });
  let report = '';
  let stderr = '';
  (child.stdio[3] as Readable).setEncoding('utf8').on('data', (c: string) => (report += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const ended = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const lines = () => report.split('\n').filter(Boolean).map((l) => l.split(' '));
  const sent = ended.then((exitCode) => {
    const got = lines();
    const bad = got.find((l) => /^\d+$/.test(l[2] ?? ''));
    if (exitCode !== 0 || bad || got.length !== files.length) {
      const f = bad ? files[Number(bad[0])] : undefined;
      const why = bad && f ? `${f.used.path}: ${bad[1]} ${fileReason(Number(bad[2]))}` : stderr.trim() || `no report (exit status ${exitCode})`;
      throw new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `the files carried ahead could not be read: ${why}`);
    }
    return got.map(([i, before, after]) => ({ held: files[Number(i)]!, name: `carried-${i}`, before: before!, after: after! }));
  });
  // whoever reads the stream learns of a failure from it; `sent` is for the one who waits on it
  sent.catch(() => undefined);
  async function* body(): AsyncGenerator<Buffer> {
    try {
      yield Buffer.from(`${JSON.stringify({ account })}\n`);
      yield* child.stdout!;
      await sent;
    } finally {
      // a reader that stopped early (the destination refused) leaves the helper nobody to write to
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }
  return { stream: Readable.from(body(), { objectMode: false }), sent };
}

/** the first line of a stream (at most max bytes), and the rest of it */
export async function firstLine(source: AsyncIterable<Buffer>, max: number): Promise<{ line: string; rest: AsyncIterable<Buffer> } | undefined> {
  const it = source[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  for (;;) {
    const { value, done } = await it.next();
    if (done) return undefined;
    head = Buffer.concat([head, value]);
    const nl = head.indexOf(10);
    if (nl >= 0) {
      const after = head.subarray(nl + 1);
      const rest = (async function* () {
        if (after.length) yield after;
        for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
      })();
      return { line: head.subarray(0, nl).toString('utf8'), rest };
    }
    if (head.length > max) return undefined;
  }
}

/**
 * Writes a pre-copy's files (streamCarried's stream, past its first line) into the stage as the
 * owner's, complete (sparse, mode, times) and synced once all came (godwit-carry stage).
 */
export async function stageStreamed(helper: string, owner: Account, stage: string, files: AsyncIterable<Buffer>): Promise<void> {
  const child = spawn(helper, ['stage', keeperUser(owner), stage], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 10 * 60_000 });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const ended = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const [piped, exit] = await Promise.allSettled([pipeline(Readable.from(files), child.stdin!), ended]);
  // the stream's own failure (its seal) says more than the helper that saw it end short
  if (piped.status === 'rejected' && piped.reason instanceof GodwitError) throw piped.reason;
  const exitCode = exit.status === 'fulfilled' ? exit.value : undefined;
  if (exitCode === 0 && piped.status === 'fulfilled') return;
  const bad = stdout.split('\n').map((l) => /^(\d+) (\w+) (\d+)$/.exec(l)).find(Boolean);
  const why = bad ? `file ${bad[1]}: ${bad[2]} ${fileReason(Number(bad[3]))}` : stderr.trim() || (piped.status === 'rejected' ? (piped.reason as Error).message : `godwit-carry exited ${exitCode}`);
  throw new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `the files carried ahead could not be staged: ${why}`);
}

/**
 * Packs the held files into the images directory (carried-N and the list). `ahead`: the versions
 * a pre-copy staged at the destination (identity -> staged name); a file still that very version
 * is not packed again, the list naming its staged copy instead. The files stay held: the caller
 * releases them. Returns what was packed, directories and staged files included.
 */
export async function packCarried(helper: string, held: HeldFiles, imagesDir: string, node: string, ahead?: ReadonlyMap<string, string>): Promise<PackedFile[]> {
  const staged = new Map<HeldFile, { name: string; identity: string }>();
  for (const f of held.files) {
    // a mapped file changes through memory, its times only at a page's first write since written back: never taken as unchanged
    const identity = f.fd === undefined || !ahead?.size || f.used.kind === 'mapped' ? undefined : identityOf(f.fd);
    const name = identity === undefined ? undefined : ahead!.get(identity);
    if (name !== undefined) staged.set(f, { name, identity: identity! });
  }
  const regular = held.files.filter((f) => f.fd !== undefined && !staged.has(f));
  const r = regular.length ? await packWith(helper, imagesDir, regular.map((f) => f.fd!)) : { exitCode: 0, stdout: '', stderr: '' };
  const lines = new Map(r.stdout.split('\n').filter(Boolean).map((l) => [Number(l.split(' ')[0]), l.split(' ').slice(1)] as const));
  const packed: PackedFile[] = held.files.map((f) => {
    const base = { path: f.used.path, mode: f.mode, size: 0, atimeNs: '0', mtimeNs: '0', extents: '-' };
    if (f.fd === undefined) {
      const fifo = f.used.kind === 'fifo';
      return { held: f, file: { ...base, directory: !fifo, ...(fifo ? { fifo } : {}) }, identity: '' };
    }
    const ahead = staged.get(f);
    if (ahead) return { held: f, file: { ...base, directory: false, staged: ahead.name }, identity: ahead.identity };
    const i = regular.indexOf(f);
    const got = lines.get(i);
    if (r.exitCode !== 0 || !got || got.length !== 10) {
      const why = got?.length === 2 ? `${got[0]}: ${fileReason(Number(got[1]))}` : r.stderr.trim() || `no report (exit status ${r.exitCode})`;
      throw new GodwitError('GODWIT_ERR_CANNOT_DUMP', `could not pack ${f.used.path} to carry it: ${why}`, { path: f.used.path });
    }
    const [size, mode, , , atimeNs, mtimeNs, dev, ino, ctimeNs, extents] = got as [string, string, string, string, string, string, string, string, string, string];
    return {
      held: f,
      file: { path: f.used.path, directory: false, mode: parseInt(mode, 8), size: Number(size), atimeNs, mtimeNs, extents, data: `carried-${i}` },
      identity: `${dev}:${ino}:${size}:${mtimeNs}:${ctimeNs}`,
    };
  });
  // parents before what lies in them
  const files = packed.map((p) => p.file).sort((a, b) => a.path.localeCompare(b.path));
  const manifest: CarriedManifest = { node, files };
  writeFileSync(join(imagesDir, CARRIED_MANIFEST), JSON.stringify(manifest), { mode: 0o600 });
  return packed;
}

/**
 * where the files packed are on this node, for their removal once moved: each as the stop found
 * it (its identity), not as it was when held, which a program writing until it stopped changed since
 */
export const packedPlaces = (packed: readonly PackedFile[]): PlacedFile[] =>
  packed
    .filter((p) => !p.file.directory)
    .map((p) => {
      if (!p.identity) return p.held.placed;
      const [dev, ino, , , ctimeNs] = p.identity.split(':') as [string, string, string, string, string];
      return { ...p.held.placed, dev, ino, ctimeNs };
    });

function byRoot<T extends { root: string }>(items: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const it of items) groups.set(it.root, [...(groups.get(it.root) ?? []), it]);
  return groups;
}

/**
 * Removes files this node put (or packed) as the owner, each only where it is still that very
 * file; the deepest first, so a directory goes once empty. What could not be removed is returned, in words.
 */
export async function removeCarried(helper: string, owner: Account, files: readonly PlacedFile[]): Promise<string[]> {
  const problems: string[] = [];
  for (const [root, group] of byRoot(files)) {
    const sorted = [...group].sort((a, b) => b.rel.localeCompare(a.rel));
    const r = await execa(helper, ['remove', keeperUser(owner), root, ...sorted.flatMap((f) => [f.rel, f.dev, f.ino, f.ctimeNs])], { reject: false, timeout: 60_000 });
    if (r.exitCode === 2) problems.push(`${root}: ${String(r.stderr).trim()}`);
    for (const l of String(r.stdout).split('\n')) {
      const m = /^(\d+) unlink (\d+)$/.exec(l);
      if (m) problems.push(`${join(root, sorted[Number(m[1])]!.rel)}: ${fileReason(Number(m[2]))}`);
    }
  }
  return problems;
}

export function readCarried(imagesDir: string): CarriedManifest | undefined {
  const text = passingOver(GONE, undefined, () => readFileSync(join(imagesDir, CARRIED_MANIFEST), 'utf8'));
  return text === undefined ? undefined : (JSON.parse(text) as CarriedManifest);
}

/**
 * Writes the images' carried files at their paths in this node's directories, as the owner,
 * before the restore. A place already taken (a different file, a symbolic link someone planted)
 * refuses the restore, naming it; whatever was written by then is removed again.
 */
export async function placeCarried(helper: string, local: NodeLocal | undefined, imagesDir: string, owner: Account, node: string, stage: string): Promise<PlacedFile[]> {
  const manifest = readCarried(imagesDir);
  if (!manifest || manifest.node === node) return [];
  const entries = manifest.files.flatMap((f) => {
    const place = placeOf(local, f.path);
    return place ? [{ ...place, f }] : [];
  });
  const placed: PlacedFile[] = [];
  const refusals: string[] = [];
  let conflict = false;
  for (const [root, group] of byRoot(entries)) {
    const data = (f: CarriedFile) => (f.staged ? `@${join(stage, f.staged)}` : f.data ? join(imagesDir, f.data) : f.fifo ? 'fifo' : '-');
    const args = group.flatMap(({ rel, f }) => [data(f), rel, f.mode.toString(8), String(f.size), f.atimeNs, f.mtimeNs, f.extents]);
    const r = await execa(helper, ['place', keeperUser(owner), root, ...args], { reject: false, timeout: 10 * 60_000 });
    if (r.exitCode === 2) refusals.push(`${group.map((g) => g.f.path).join(', ')}: ${String(r.stderr).trim()}`);
    for (const l of String(r.stdout).split('\n')) {
      const m = /^(\d+) (\w+) (\d+)(?: (\d+) (\d+))?$/.exec(l);
      const g = m ? group[Number(m[1])] : undefined;
      if (!m || !g) continue;
      if (m[2] === 'made') placed.push({ root, rel: g.rel, dev: m[3]!, ino: m[4]!, ctimeNs: m[5]! });
      else if (m[2] !== 'there') {
        const errno = Number(m[3]);
        const taken = errnoName(errno) === 'EEXIST' || errnoName(errno) === 'ELOOP';
        conflict ||= taken;
        refusals.push(taken ? `a different file is already at ${g.f.path} on ${node}` : `${g.f.path} could not be written on ${node}: ${fileReason(errno)}`);
      }
    }
    if (r.exitCode !== 0 && !refusals.length) refusals.push(`${group.map((g) => g.f.path).join(', ')}: ${String(r.stdout).trim() || 'no report'}`);
  }
  if (refusals.length) {
    await removeCarried(helper, owner, placed);
    throw new GodwitError(conflict ? 'GODWIT_ERR_CARRY_CONFLICT' : 'GODWIT_ERR_CANNOT_RESTORE', `the files it carries cannot be put in place: ${refusals.join('; ')}; nothing was started`, { refusals });
  }
  return placed;
}

/**
 * Whether each place is free on this node, asked before the program stops: what is there already
 * (or a symbolic link on the way there) is a conflict, in words naming it, but for a file of the
 * owner's (ownerUid) of the size (and mode) it would carry, which may be the very same: placing
 * compares its bytes, leaving the same one and refusing another. Each directory on the way is
 * looked at without following links.
 */
export function carryConflicts(local: NodeLocal | undefined, files: readonly CarriedPlace[], node: string, ownerUid: number | undefined): string[] {
  const sameMode = (f: CarriedPlace, st: Stats) => f.mode === undefined || (st.mode & 0o1777) === (f.mode & 0o1777);
  const maybeSame = (f: CarriedPlace, st: Stats) =>
    st.uid === ownerUid && sameMode(f, st) && (f.kind === 'fifo' ? st.isFIFO() : f.kind !== 'directory' && st.isFile() && st.size === f.bytes);
  return files.flatMap((f) => {
    const { path, kind } = f;
    const place = placeOf(local, path);
    if (!place) return [];
    let at = place.root;
    const parts = place.rel.split('/');
    for (const [i, part] of parts.entries()) {
      at = join(at, part);
      const st = passingOver(GONE, undefined, () => lstatSync(at));
      if (!st) return [];
      const last = i === parts.length - 1;
      if (st.isSymbolicLink()) return [`${path} on ${node}: ${last ? 'a symbolic link is there' : 'a symbolic link is on the way'}`];
      if (!last && !st.isDirectory()) return [`${path} on ${node}: a file that is not a directory is on the way`];
      if (last && !(kind === 'directory' && st.isDirectory()) && !maybeSame(f, st)) return [`a different file is already at ${path} on ${node}`];
    }
    return [];
  });
}

/** where a source keeps what it packed for a move, until the move ends */
const recordOf = (dataDir: string, migrationId: number) => join(dataDir, 'carried', `${migrationId}.json`);

export function recordPacked(dataDir: string, migrationId: number, account: string, files: readonly PlacedFile[]): void {
  if (!files.length) return;
  mkdirSync(join(dataDir, 'carried'), { recursive: true, mode: 0o700 });
  writeFileSync(recordOf(dataDir, migrationId), JSON.stringify({ account, files }), { mode: 0o600 });
}

/** what the source packed for this move, forgotten as it is read */
export function takePacked(dataDir: string, migrationId: number): { account: string; files: PlacedFile[] } | undefined {
  const file = recordOf(dataDir, migrationId);
  const text = passingOver(GONE, undefined, () => readFileSync(file, 'utf8'));
  rmSync(file, { force: true });
  return text === undefined ? undefined : (JSON.parse(text) as { account: string; files: PlacedFile[] });
}
