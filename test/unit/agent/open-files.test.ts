/**
 * A checkpoint saves the files a program writes through the program's own descriptor: a path
 * swapped for a symbolic link after the program opened it does not bring another file (one only
 * root may read) into the checkpoint. Reads /proc of a real process tree.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { copyOpenFile, openFiles, type LiveFile } from '../../../agent/src/open-files.js';
import { waitFor } from '../../../agent/src/wait.js';

describe('saving the files a program has open', function () {
  let dir: string;
  let tree: ChildProcess;
  let log: LiveFile;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-open-files-'));
    // the program (sleep) writes progress.log in its working directory, opened by its parent shell
    tree = spawn('sh', ['-c', 'exec 3>>progress.log; echo "the program\'s line" >&3; sleep 60 & wait'], { cwd: dir, stdio: 'ignore' });
    log = await waitFor(() => openFiles(tree.pid!).find((f) => f.fd === 3 && f.size > 0), {
      timeoutMs: 10_000,
      what: 'the program to have written progress.log',
      seen: () => JSON.stringify(openFiles(tree.pid!)),
    });
  });
  afterEach(() => {
    tree.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the file open for writing in its working directory, and where to reach it', () => {
    expect({ path: log.path, mode: log.mode, append: log.append, size: log.size, saved: log.saved }).to.deep.equal({
      path: join(dir, 'progress.log'), mode: 'w', append: true, size: 19, saved: true,
    });
    expect(log.at.hostPid, 'the program, not the shell above it').to.not.equal(tree.pid);
  });

  it("copies the program's file, not what its path names now, and only the bytes it had then", async () => {
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'root only\n', { mode: 0o600 });
    renameSync(log.path, join(dir, 'moved.log'));
    symlinkSync(secret, log.path);
    appendFileSync(join(dir, 'moved.log'), 'written after the look\n');
    const copy = join(dir, 'copy');
    await copyOpenFile(log, copy);
    expect(readFileSync(copy, 'utf8')).to.equal("the program's line\n");
  });

  it('refuses a descriptor that names another file than the one looked at', async () => {
    const other = { ...log, at: { ...log.at, ino: log.at.ino + 1n } };
    const err = await copyOpenFile(other, join(dir, 'copy')).then(() => undefined, (e: Error) => e);
    expect(err?.message).to.equal(`descriptor 3 of PID ${log.at.hostPid} is no longer ${log.path}, the regular file it had open`);
  });
});
