/**
 * A terminal a test can type into and read, as a person would: one program in a tmux window on a
 * tmux server of its own, on a socket in a directory of its own (`tmux -S`), so no one else's tmux
 * sessions are ever touched and nothing is left behind.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export interface Terminal {
  /** presses keys, in tmux's key names ('q', 'C-c', 'Enter') */
  keys: (...keys: string[]) => Promise<void>;
  /** the visible screen, as text */
  screen: () => Promise<string>;
  /** waits until the screen matches; the error shows the screen as it was last seen */
  waitFor: (re: RegExp, what: string, timeoutMs?: number) => Promise<string>;
  resize: (columns: number, rows: number) => Promise<void>;
  /** the PID of the program while it runs (a child of the window's shell) */
  programPid: () => Promise<number>;
  /** ends the server, its window and what runs there; safe to call twice */
  close: () => Promise<void>;
}

export async function openTerminal(opts: { argv: string[]; env: NodeJS.ProcessEnv; cwd: string; columns: number; rows: number }): Promise<Terminal> {
  const dir = mkdtempSync(join(tmpdir(), 'godwit-tmux-'));
  const socket = join(dir, 'socket');
  const tmux = async (...args: string[]) => (await execa('tmux', ['-S', socket, ...args], { env: opts.env, cwd: opts.cwd })).stdout;
  // The program's end is shown rather than closing the window, so a test can see its exit status
  // and anything it printed; the shell then waits for close() to end the server.
  const shell = `${opts.argv.map(quote).join(' ')}; echo "[exited $?]"; exec sleep 3600`;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await execa('tmux', ['-S', socket, 'kill-server'], { reject: false });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await tmux('new-session', '-d', '-s', 'test', '-x', String(opts.columns), '-y', String(opts.rows), shell);
  } catch (err) {
    await close();
    throw err;
  }
  const screen = () => tmux('capture-pane', '-p', '-t', 'test');
  return {
    keys: async (...keys) => void (await tmux('send-keys', '-t', 'test', ...keys)),
    screen,
    waitFor: async (re, what, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const seen = await screen();
        if (re.test(seen)) return seen;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${re}); the screen:\n${seen}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    resize: async (columns, rows) => void (await tmux('resize-window', '-t', 'test', '-x', String(columns), '-y', String(rows))),
    programPid: async () => {
      const shellPid = (await tmux('display-message', '-p', '-t', 'test', '#{pane_pid}')).trim();
      const children = readFileSync(`/proc/${shellPid}/task/${shellPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      if (children.length !== 1) throw new Error(`the shell of the terminal (pid ${shellPid}) has children [${children.join(', ')}], not one program`);
      return Number(children[0]);
    },
    close,
  };
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
