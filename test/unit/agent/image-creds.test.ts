/**
 * The credentials check on real CRIU images: a program dumped as an unprivileged account (as
 * the keeper starts it: no capabilities, no new privileges) and one dumped as root, then the
 * same images changed field by field as a forger would.
 */
import { expect } from 'chai';
import { execa } from 'execa';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GodwitError } from '@godwit/schemas';
import type { Account } from '../../../agent/src/accounts.js';
import { createCriu } from '../../../agent/src/criu.js';
import { checkImageCreds, readImageCreds } from '../../../agent/src/image-creds.js';
import { readMessage, WIRE_BYTES, WIRE_VARINT, type WireField } from '../../../agent/src/protobuf-wire.js';

const CRIU = '/usr/local/sbin/criu';
const NOBODY = 65534;
const nobody: Account = { name: 'nobody', uid: NOBODY, gid: NOBODY, groups: [NOBODY], home: '/nonexistent' };
const root: Account = { name: 'root', uid: 0, gid: 0, groups: [0], home: '/root' };

/** dumps `sleep` run in a session of its own (CRIU dumps a session leader without --shell-job) */
async function dumpSleep(into: string, asNobody: boolean): Promise<void> {
  const owner = asNobody
    ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, `--groups=${NOBODY}`, '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs']
    : [];
  const sleep = execa(owner[0] ?? 'sleep', [...owner.slice(1), ...(asNobody ? ['sleep'] : []), '100'], { detached: true, stdio: 'ignore', reject: false });
  try {
    // setpriv execs sleep in place: wait until the pid is sleep, with the credentials it will have
    const deadline = Date.now() + 5000;
    while (!readFileSync(`/proc/${sleep.pid}/comm`, 'utf8').startsWith('sleep')) {
      if (Date.now() > deadline) throw new Error(`pid ${sleep.pid} did not become sleep within 5 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await createCriu(CRIU).dump({ pid: sleep.pid!, imagesDir: into, what: `sleep (pid ${sleep.pid})`, lockNetwork: false, controlMounts: [] });
  } finally {
    sleep.kill('SIGKILL');
    await sleep;
  }
}

/** dumps `sleep` holding a zombie child: a tree CRIU dumps a zombie of */
async function dumpWithZombie(into: string): Promise<void> {
  const parent = execa('sh', ['-c', 'sleep 0 & exec sleep 100'], { detached: true, stdio: 'ignore', reject: false });
  try {
    const deadline = Date.now() + 5000;
    const zombie = () => {
      if (!readFileSync(`/proc/${parent.pid}/comm`, 'utf8').startsWith('sleep')) return false;
      const [child] = readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').trim().split(' ');
      return !!child && / Z /.test(readFileSync(`/proc/${child}/stat`, 'utf8'));
    };
    while (!zombie()) {
      if (Date.now() > deadline) throw new Error(`pid ${parent.pid} did not become sleep with a zombie child within 5 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await createCriu(CRIU).dump({ pid: parent.pid!, imagesDir: into, what: `sleep (pid ${parent.pid})`, lockNetwork: false, controlMounts: [] });
  } finally {
    parent.kill('SIGKILL');
    await parent;
  }
}

/** protobuf's wire format, the other way: enough to write back a changed message */
function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    out.push((n % 128) | (n >= 128 ? 128 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return Buffer.from(out);
}

function encode(fields: WireField[]): Buffer {
  return Buffer.concat(
    fields.map((f) => {
      const key = varint(f.field * 8 + f.wire);
      if (f.wire === WIRE_VARINT) return Buffer.concat([key, varint(f.u32)]);
      if (f.wire === WIRE_BYTES) return Buffer.concat([key, varint(f.bytes.length), f.bytes]);
      throw new Error(`the test's encoder writes no wire type ${f.wire}`);
    }),
  );
}

type Edit = (creds: WireField[]) => WireField[];

/** rewrites the creds (core_entry.thread_core.creds) of a core image in place */
function editCreds(corePath: string, edit: Edit): void {
  const image = readFileSync(corePath);
  const size = image.readUInt32LE(8);
  const within = (msg: Buffer, field: number, change: (inner: Buffer) => Buffer) =>
    encode(readMessage(msg).map((f) => (f.field === field ? { ...f, bytes: change(f.bytes) } : f)));
  const core = within(image.subarray(12, 12 + size), 5, (threadCore) => within(threadCore, 10, (creds) => encode(edit(readMessage(creds)))));
  const head = Buffer.alloc(12);
  image.copy(head, 0, 0, 8);
  head.writeUInt32LE(core.length, 8);
  writeFileSync(corePath, Buffer.concat([head, core, image.subarray(12 + size)]));
}

const setU32 = (field: number, value: number): Edit => (creds) => creds.map((f) => (f.field === field ? { ...f, u32: value } : f));
const add = (field: number, value: number): Edit => (creds) => [...creds, { field, wire: WIRE_VARINT, u32: value, bytes: Buffer.alloc(0) }];

describe('credentials in CRIU images', function () {
  this.timeout(30_000);
  let dir: string;
  let guestImages: string;
  let rootImages: string;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    dir = mkdtempSync(join(tmpdir(), 'godwit-image-creds-'));
    [guestImages, rootImages] = [mkdtempSync(join(dir, 'guest-')), mkdtempSync(join(dir, 'root-'))];
    await dumpSleep(guestImages, true);
    await dumpSleep(rootImages, false);
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  /** a copy of the guest's images, changed by `change` */
  function forged(change: (images: string, core: string) => void): string {
    const copy = mkdtempSync(join(dir, 'forged-'));
    for (const f of readdirSync(guestImages)) copyFileSync(join(guestImages, f), join(copy, f));
    change(copy, join(copy, readdirSync(copy).find((f) => /^core-\d+\.img$/.test(f))!));
    return copy;
  }

  function refusal(images: string, account: Account): GodwitError {
    try {
      checkImageCreds(images, account);
    } catch (err) {
      expect(err).to.be.instanceOf(GodwitError);
      expect((err as GodwitError).code).to.equal('GODWIT_ERR_BAD_IMAGES');
      return err as GodwitError;
    }
    throw new Error(`the images in ${images} passed for ${account.name}`);
  }

  it("reads a guest program's uid, gid and groups, and no capabilities", () => {
    const threads = readImageCreds(guestImages);
    expect(threads).to.have.length(1);
    const { creds } = threads[0]!;
    expect(creds!.ids).to.deep.equal({ uid: NOBODY, gid: NOBODY, euid: NOBODY, egid: NOBODY, suid: NOBODY, sgid: NOBODY, fsuid: NOBODY, fsgid: NOBODY });
    expect(creds!.groups).to.deep.equal([NOBODY]);
    for (const [set, words] of Object.entries(creds!.caps)) expect(words.every((w) => w === 0), `${set}: ${words.join(' ')}`).to.equal(true);
    expect(creds!.noNewPrivs).to.equal(true);
    checkImageCreds(guestImages, nobody);
  });

  it("passes root's program for root, and refuses it for anyone else", () => {
    expect(readImageCreds(rootImages)[0]!.creds!.ids.uid).to.equal(0);
    checkImageCreds(rootImages, root);
    expect(refusal(rootImages, nobody).message).to.match(/task \d+ in core-\d+\.img has uid 0, where the owner, nobody, has 65534/);
  });

  it('refuses images whose uid was changed to root, naming the task and the field', () => {
    const e = refusal(forged((_, core) => editCreds(core, setU32(1, 0))), nobody);
    expect(e.message).to.match(/task \d+ in core-\d+\.img has uid 0, where the owner, nobody, has 65534/);
    expect(e.details).to.include({ field: 'uid', found: 0, account: 'nobody' });
  });

  it('refuses a changed fsgid, a group the owner is not in, a capability, and a program that may gain privileges', () => {
    expect(refusal(forged((_, core) => editCreds(core, setU32(8, 0))), nobody).message).to.contain('has fsgid 0');
    expect(refusal(forged((_, core) => editCreds(core, add(14, 0))), nobody).message).to.contain('has group 0, which nobody is not in');
    const capBnd = (creds: WireField[]) => creds.map((f) => (f.field === 12 ? { ...f, u32: 1 << 21 } : f)); // CAP_SYS_ADMIN
    expect(refusal(forged((_, core) => editCreds(core, capBnd)), nobody).message).to.contain('has cap_bnd [2097152');
    expect(refusal(forged((_, core) => editCreds(core, add(19, 1))), nobody).message).to.match(/has cap_amb \[(0,)*1\]/);
    const mayGain = (creds: WireField[]) => creds.filter((f) => f.field !== 18);
    expect(refusal(forged((_, core) => editCreds(core, mayGain)), nobody).message).to.contain('has no_new_privs 0');
  });

  it("takes a zombie by its own core image, whatever thread ids CRIU's pstree lists for it", async () => {
    const images = mkdtempSync(join(dir, 'zombie-'));
    await dumpWithZombie(images);
    // CRIU leaves a zombie's thread id uninitialised: write one no task has
    const pstree = readFileSync(join(images, 'pstree.img'));
    const entries: Buffer[] = [];
    for (let pos = 8; pos < pstree.length; pos += 4 + pstree.readUInt32LE(pos)) entries.push(pstree.subarray(pos + 4, pos + 4 + pstree.readUInt32LE(pos)));
    expect(entries, 'pstree entries: the sleep and its zombie').to.have.length(2);
    const zombie = readMessage(entries[1]!);
    const bogus = encode([...zombie.filter((f) => f.field !== 5), { field: 5, wire: WIRE_VARINT, u32: 2624384784, bytes: Buffer.alloc(0) }]);
    const size = Buffer.alloc(4);
    size.writeUInt32LE(bogus.length);
    writeFileSync(join(images, 'pstree.img'), Buffer.concat([pstree.subarray(0, 8 + 4 + entries[0]!.length), size, bogus]));
    const tasks = readImageCreds(images);
    expect(tasks.map((t) => t.thread), 'threads read').to.not.include(2624384784);
    expect(tasks.find((t) => t.task === zombie.find((f) => f.field === 1)!.u32)?.creds, "the zombie's creds").to.equal(undefined);
    checkImageCreds(images, root);
  });

  it('refuses a uid written twice, creds left out, and a task without its core image', () => {
    // protobuf-c keeps the last of two: the check must not read the first
    expect(refusal(forged((_, core) => editCreds(core, add(1, 0))), nobody).message).to.match(/core-\d+\.img cannot be read as CRIU's: field 1 occurs 2 times/);
    expect(refusal(forged((_, core) => editCreds(core, () => [])), nobody).message).to.contain('it has no uid');
    expect(refusal(forged((_, core) => rmSync(core)), nobody).message).to.match(/core-\d+\.img cannot be read as CRIU's: it is missing/);
    expect(refusal(forged((images) => rmSync(join(images, 'pstree.img'))), nobody).message).to.contain("pstree.img cannot be read as CRIU's: it is missing");
  });
});
