/**
 * Every CRIU command line godwit runs, as argument arrays without the program: the agent
 * (criu.ts) and the benchmarks' bare-CRIU baselines build them here, so both use the same
 * options. Options that every dump and restore needs (see shared/platform-notes.md) are set
 * here, so all images are restorable alike.
 */
import { CRIU_CPU_CAP, type PageServer, type StreamInodes, type TlsFiles } from '@godwit/schemas';
import { CONTROL_MOUNT_KEY } from './control-mount.js';

/** File locks (SQLite), established TCP connections, unlinked files. */
const COMMON = ['--file-locks', '--tcp-established', '--link-remap'];
/**
 * CRIU's network lock (nftables: there is no iptables here) holds the tree's TCP connections
 * still while it is dumped. A tree without TCP sockets has nothing to hold: skipped, the dump
 * leaves no lock table behind, so it need not wait for the node's other dumps (lifecycle.ts).
 */
const networkLock = (lock: boolean) => ['--network-lock', lock ? 'nftables' : 'skip'];
const serverAt = (at: PageServer) => ['--address', at.host, '--port', String(at.port)];
/**
 * Every page server and its client talk TLS with the cluster's certificates: a full copy's page
 * server and the dump that feeds it, a lazy dump and the lazy-pages daemon it serves.
 */
const tlsArgs = (tls: TlsFiles | undefined) => (tls ? ['--tls', '--tls-cacert', tls.caFile, '--tls-cert', tls.certFile, '--tls-key', tls.keyFile] : []);
/**
 * CRIU checks a peer's certificate against its own --address: right for a client, which checks
 * the page server it connects to, wrong for a page server (`criu page-server`, a lazy dump), which
 * would ask its client's certificate to name the server's own address. A page server checks only
 * that the cluster's CA made it. (Without this a lazy dump refuses the lazy-pages daemon, which
 * exits, and `criu restore --lazy-pages` then waits forever: the "hang" of lazy moves over TLS.)
 */
const PAGE_SERVER_NO_CN = '--tls-no-cn-verify';
/**
 * CRIU's CPU comparison, spelt out: only an explicit --cpu-cap makes a dump write cpuinfo.img and
 * a restore check it. Its argument is optional, so it must be joined by `=` (CRIU takes a separate
 * word for a stray parameter and refuses the command).
 */
const CPU_CAP = `--cpu-cap=${CRIU_CPU_CAP}`;

export const DUMP_LOG = 'dump.log';
export const LAZY_DUMP_LOG = DUMP_LOG;
export const LAZY_PAGES_LOG = 'lazy-pages.log';
export const PAGE_SERVER_LOG = 'page-server.log';

/** the descriptor a CRIU started by withStatusFd writes one byte to once it listens or serves */
export const STATUS_FD = 3;
export const withStatusFd = (args: readonly string[]): string[] => [...args, '--status-fd', String(STATUS_FD)];

export interface DumpArgsOptions {
  /** the memory goes straight to this CRIU page server (and the tree is left stopped) */
  pageServer?: PageServer;
  /** with pageServer: the page server talks TLS, and these files prove this side */
  tls?: TlsFiles;
  /** the tree stays stopped after the dump (a checkpoint resumes or ends it) */
  leaveStopped?: boolean;
  /** whether CRIU's network lock holds the tree's TCP connections (only a tree with some needs it) */
  lockNetwork: boolean;
  /** where the program sees its control directory (controlMountsOf): a mount CRIU is told is external */
  controlMounts: readonly string[];
  /**
   * the largest file deleted while open that the tree holds (carry-plan.ts): CRIU copies such a
   * file into the images as a ghost file, and refuses one larger than --ghost-limit (1 MiB unless told)
   */
  ghostLimit?: number;
  /** where the program sees its node's own paths (node-local.ts): external, each under its key */
  localMounts?: readonly string[];
}

/**
 * the key a node-local mount goes by in the images: its path, which the destination maps to its
 * own directory for that path
 */
export const localMountKey = (point: string): string => `godwit-local${point}`;

/**
 * `criu dump` of a program's tree. With a page server the memory goes straight to the
 * destination and the tree is left stopped, so the source can still resume it if the move fails.
 */
export function dumpArgs(pid: number, imagesDir: string, logName: string, { pageServer, tls, leaveStopped, lockNetwork, controlMounts, ghostLimit, localMounts = [] }: DumpArgsOptions): string[] {
  const direct = pageServer ? ['--page-server', ...serverAt(pageServer), ...tlsArgs(tls)] : [];
  const external = [
    ...controlMounts.flatMap((at) => ['--external', `mnt[${at}]:${CONTROL_MOUNT_KEY}`]),
    ...localMounts.flatMap((at) => ['--external', `mnt[${at}]:${localMountKey(at)}`]),
  ];
  const ghosts = ghostLimit === undefined ? [] : ['--ghost-limit', String(ghostLimit)];
  return ['dump', '-t', String(pid), '-D', imagesDir, '-o', logName, ...COMMON, CPU_CAP, ...networkLock(lockNetwork), ...external, ...ghosts, ...direct, ...(pageServer || leaveStopped ? ['--leave-stopped'] : [])];
}

/**
 * `criu dump --lazy-pages`: writes every image but the memory, then serves the pages from the
 * stopped tree at `at` until the destination has them all.
 */
export function lazyDumpArgs(pid: number, imagesDir: string, { at, tls, ...opts }: { at: PageServer } & Omit<DumpArgsOptions, 'pageServer'>): string[] {
  return [...dumpArgs(pid, imagesDir, LAZY_DUMP_LOG, opts), '--lazy-pages', ...serverAt(at), ...tlsArgs(tls), ...(tls ? [PAGE_SERVER_NO_CN] : [])];
}

/**
 * `criu lazy-pages`: fills a lazily restored tree's memory from the source's page server.
 * logFaults (-v4): the log's per-fault lines are how godwit tells pages fetched on demand from
 * pushed ones.
 */
export function lazyPagesArgs(imagesDir: string, from: PageServer, { logFaults, tls }: { logFaults: boolean; tls?: TlsFiles }): string[] {
  return ['lazy-pages', '-D', imagesDir, '-o', LAZY_PAGES_LOG, '--page-server', ...serverAt(from), ...tlsArgs(tls), ...(logFaults ? ['-v4'] : [])];
}

/**
 * `criu page-server` writing a dump's pages into imagesDir. daemon: it detaches once it listens,
 * for a caller that waits for it to exit rather than reading a status fd (a baseline by hand).
 */
export function pageServerArgs(imagesDir: string, at: PageServer, { daemon = false, tls }: { daemon?: boolean; tls?: TlsFiles } = {}): string[] {
  return ['page-server', '-D', imagesDir, '-o', PAGE_SERVER_LOG, ...serverAt(at), ...tlsArgs(tls), ...(tls ? [PAGE_SERVER_NO_CN] : []), ...(daemon ? ['-d'] : [])];
}

/** A file the restored tree gets already open (`--inherit-fd`) instead of CRIU opening and checking it. */
export interface InheritedFile {
  /** the path the checkpointed process had open: CRIU's key for it */
  path: string;
  /** what to open in its place (the same path, accepted as it is now, or a remapped one) */
  open: string;
  flags: number;
  offset: number;
}

export interface RestoreArgsOptions {
  imagesDir: string;
  logName: string;
  pidfile: string;
  inodes: StreamInodes;
  lazy?: boolean;
  files?: readonly InheritedFile[];
  /** where the restoring keeper serves the program's control directory */
  control?: string;
  /** this node's own paths (node-local.ts): each directory is bound where the images' mount of that path was */
  localDirs?: readonly { point: string; dir: string }[];
  /** the images hold the source's cpuinfo.img (CPU_CAP_IMAGE): CRIU checks this CPU against it before restoring */
  cpuChecked?: boolean;
}

/** `criu restore`, run by the keeper so it can adopt the tree */
export function restoreArgs({ imagesDir, logName, pidfile, inodes, lazy, files = [], control, localDirs = [], cpuChecked }: RestoreArgsOptions): string[] {
  // The keeper places the new pipes' program ends at fds 3, 4 and 5, and the files it opens
  // for us at 6 and on; CRIU knows a regular file by its path without the leading slash.
  const inherit = [
    ...[inodes.in, inodes.out, inodes.err].map((ino, i) => `fd[${3 + i}]:pipe:[${ino}]`),
    ...files.map((f, i) => `fd[${6 + i}]:${f.path.replace(/^\/+/, '')}`),
  ].flatMap((spec) => ['--inherit-fd', spec]);
  return [
    'restore', '-d', '-D', imagesDir, '-o', logName, '--pidfile', pidfile,
    // the program has its own mount namespace: without --root, CRIU hits BUG at mount.c
    '--root', '/',
    // the restored tree joins the restoring agent's groups, i.e. the destination node's
    '--manage-cgroups=ignore',
    ...COMMON, ...inherit,
    ...(control ? ['--external', `mnt[${CONTROL_MOUNT_KEY}]:${control}`] : []),
    ...localDirs.flatMap(({ point, dir }) => ['--external', `mnt[${localMountKey(point)}]:${dir}`]),
    ...(lazy === true ? ['--lazy-pages'] : []),
    ...(cpuChecked === true ? [CPU_CAP] : []),
  ];
}

export const versionArgs = (): string[] => ['--version'];
export const checkFeatureArgs = (feature: string): string[] => ['check', '--feature', feature];
/** `criu cpuinfo dump`: this CPU's features, as CRIU compares them, into dir/cpuinfo.img */
export const cpuinfoDumpArgs = (dir: string): string[] => ['cpuinfo', 'dump', '-D', dir];
/** `criu cpuinfo check`: whether this CPU runs what ran on the CPU of dir/cpuinfo.img, as a restore would check it */
export const cpuinfoCheckArgs = (dir: string): string[] => ['cpuinfo', 'check', '-D', dir, CPU_CAP];
/** the name CRIU gives its record of a CPU, in a cpuinfo dump's directory and in a dump's images */
export const CPUINFO_IMAGE = 'cpuinfo.img';
