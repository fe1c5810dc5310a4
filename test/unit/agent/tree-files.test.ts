/**
 * The pre-flight's look at a real program's files (tree-files.ts) and what a move would do with
 * each (carry-plan.ts): every kind of use is found, sparse files count their blocks, deleted files
 * go as ghosts sized for CRIU, shared paths and the system stay, and the limit refuses in words.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { CRIU_GHOST_LIMIT, planCarry } from '../../../agent/src/carry-plan.js';
import { treeFiles, type UsedFile } from '../../../agent/src/tree-files.js';
import { waitFor } from '../../../agent/src/wait.js';

const MiB = 1 << 20;

/** a python program using each kind of file in dir, then printing "ready" */
const HOLDER = `
import mmap, os, socket, sys, time
d = sys.argv[1]
os.chdir(d)
sparse = open('sparse.dat', 'wb'); sparse.truncate(64 << 20); sparse.write(b'x' * 4096); sparse.flush()
gone = open('gone.dat', 'wb'); gone.write(os.urandom(2 << 20)); gone.flush(); os.unlink('gone.dat')
with open('mapped.dat', 'wb') as f: f.write(b'm' * 8192)
mf = open('mapped.dat', 'rb'); m = mmap.mmap(mf.fileno(), 0, prot=mmap.PROT_READ); mf.close()
os.mkfifo('pipe'); p = os.open('pipe', os.O_RDWR)
s = socket.socket(socket.AF_UNIX); s.bind(os.path.join(d, 'sock'))
shared = open(os.path.join(d, 'shared', 'kept.dat'), 'wb'); shared.write(b's' * 100000); shared.flush()
print('ready', flush=True)
time.sleep(60)
`;

describe("a move's pre-flight of the files a program uses", function () {
  let dir: string;
  let tree: ChildProcess;
  let files: UsedFile[];
  before(async function () {
    this.timeout(20_000);
    dir = mkdtempSync(join(tmpdir(), 'godwit-tree-files-'));
    mkdirSync(join(dir, 'shared'));
    tree = spawn('python3', ['-c', HOLDER, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    tree.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    await waitFor(() => (out.includes('ready') ? true : undefined), { timeoutMs: 15_000, what: 'the holder to be ready', seen: () => out });
    files = treeFiles(tree.pid!, [join(dir, 'excluded')]);
  });
  after(() => {
    tree.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const named = (name: string) => files.find((f) => f.path === join(dir, name));

  it('finds open, mapped, deleted, FIFO and socket files and the working directory, with their real sizes', () => {
    expect(named('sparse.dat'), 'a sparse file: 64 MiB long, a few blocks').to.include({ kind: 'file', apparentBytes: 64 * MiB });
    expect(named('sparse.dat')!.allocatedBytes).to.be.below(MiB);
    expect(named('gone.dat'), JSON.stringify(files)).to.include({ kind: 'deleted', apparentBytes: 2 * MiB });
    expect(named('mapped.dat')).to.include({ kind: 'mapped', apparentBytes: 8192 });
    expect(named('pipe')).to.include({ kind: 'fifo', apparentBytes: 0 });
    expect(named('sock')).to.include({ kind: 'unix-socket', apparentBytes: 0 });
    expect(files.find((f) => f.path === dir)).to.include({ kind: 'directory' });
    expect(files.filter((f) => /^\/(proc|sys|dev)\//.test(f.path)), 'nothing of /proc, /sys or /dev').to.deep.equal([]);
  });

  it('leaves shared and system files, carries node-local ones, sends deleted ones as ghosts sized for CRIU', () => {
    const plan = planCarry(files, { sharedPaths: [join(dir, 'shared')], limitBytes: 256 * MiB, raise: 'raise it' });
    const fate = (name: string) => plan.files.find((f) => f.path === join(dir, name))?.fate;
    expect([fate('sparse.dat'), fate('gone.dat'), fate('shared/kept.dat')]).to.deep.equal(['carried', 'ghost', 'stays']);
    expect(plan.files.filter((f) => f.path.startsWith('/usr/')).every((f) => f.fate === 'stays'), 'python and its libraries stay').to.equal(true);
    expect(plan.ghostLimitBytes, "the deleted file's length").to.equal(2 * MiB);
    // python itself may live under a home directory (pyenv), node-local here: only dir's files are known
    const ours = plan.files.filter((f) => f.path.startsWith(`${dir}/`) && f.fate !== 'stays');
    expect(ours.reduce((sum, f) => sum + f.allocatedBytes, 0), JSON.stringify(ours)).to.be.within(2 * MiB, 3 * MiB);
    expect(plan.carriedBytes, 'everything that moves counts').to.be.at.least(2 * MiB);
    expect(plan.refusal).to.equal(null);
    expect(planCarry([], { sharedPaths: [], limitBytes: 0, raise: '' }).ghostLimitBytes, "CRIU's own default, never less").to.equal(CRIU_GHOST_LIMIT);
  });

  it('refuses past the limit, naming the largest files, the limit and how to raise it', () => {
    const plan = planCarry(files, { sharedPaths: [], limitBytes: MiB, raise: 'raise it with --carry-max' });
    expect(plan.refusal).to.match(/more than the limit of 1 MiB/).and.to.include(`${join(dir, 'gone.dat')} (2 MiB)`).and.to.match(/raise it with --carry-max$/);
  });
});
