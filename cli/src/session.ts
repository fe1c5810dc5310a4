/**
 * A session with a program on the cluster, as a local job's terminal is: the environment it gets,
 * its output on our stdout/stderr, our stdin to it, every signal we can catch passed on to it,
 * Ctrl-Z and fg/bg stopping and continuing it with us, its exit status ours. mosrun, once it has
 * started the program, `godwit attach` and each job of `mosrun -S` are such sessions.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Died, GodwitError, type OutputStream, type SignalName } from '@godwit/schemas';
import { checkpointedExit } from './checkpointed-exit.js';
import type { GodwitClient } from './client.js';
import { CliError, isErrno, isNotRunning, signalStatus } from './errors.js';
import { followedThrough, writeOutput } from './output-sink.js';
import { FORWARDED } from './signals.js';
import { writtenAcks } from './written-acks.js';
import { EXIT, say } from './output.js';

export interface ForegroundOptions {
  /** the output offset to show from */
  from: number;
  /**
   * true: our stdin goes to the program only when there is something to read (`godwit attach`
   * from a script must not close the program's stdin); false: our stdin is the program's, ending
   * it when ours ends or is /dev/null (mosrun)
   */
  inputOnlyIfReadable: boolean;
}

const RECONNECT_MS = 60_000;


export function exitStatus(exit: { code: number | null; signal: string | null }): number {
  if (exit.signal) return signalStatus(exit.signal);
  return exit.code ?? EXIT.ERROR.status;
}

/** deaths a shell reports on no line either: the user's own Ctrl-C, a reader gone from a pipeline */
const QUIET_SIGNALS: ReadonlySet<string> = new Set(['SIGINT', 'SIGPIPE']);

/** the line a session says on stderr when its program died, as a shell says "Killed"; null: nothing to say */
export function deathLine(id: number, died: Died | undefined): string | null {
  if (!died || (died.signal !== undefined && QUIET_SIGNALS.has(died.signal) && !died.oomKilled)) return null;
  return `process ${id} ${died.reason}`;
}

function ended(id: number, exit: { code: number | null; signal: string | null; died?: Died }): number {
  const line = deathLine(id, exit.died);
  if (line) say(line);
  return exitStatus(exit);
}

/**
 * The caller's environment without godwit's own variables (tokens, configuration paths) and
 * without the dynamic loader's (LD_*), which the API refuses: those are named on stderr, so that
 * a program that needed one is not left to fail in silence.
 */
export function programEnv(env: NodeJS.ProcessEnv, warn: (line: string) => void = say): Record<string, string> {
  const out: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || k.startsWith('GODWIT_')) continue;
    if (k.startsWith('LD_')) dropped.push(k);
    else out[k] = v;
  }
  if (dropped.length) warn(`not passed to the program: ${dropped.join(', ')} (godwit refuses the dynamic loader's variables)`);
  return out;
}

/** Follows program `id` until it ends; resolves with the status mosrun exits with. */
export async function foreground(client: GodwitClient, id: number, opts: ForegroundOptions): Promise<number> {
  // a frozen program takes it as it continues: say so, as nothing happens now
  const pass = (sig: SignalName) =>
    client.signal(id, sig).then((queued) => {
      if (queued) say(queued.message);
    });
  // A signal that cannot be passed on (orchestrator gone) ends us, as it would end a local
  // program: the user asked to stop, and nothing else would.
  let giveUp: (err: CliError) => void = () => {};
  const givenUp = new Promise<never>((_, reject) => (giveUp = reject));
  const handlers: [SignalName, () => void][] = FORWARDED.map((sig) => [
    sig,
    () => {
      pass(sig).catch((err: unknown) => {
        if (isNotRunning(err)) return;
        giveUp(
          new CliError(`could not pass ${sig} to process ${id} (${(err as Error).message}); it may still be running (\`mosps\`)`, { signal: sig }),
        );
      });
    },
  ]);
  handlers.push(...jobControl(id, pass));
  for (const [sig, h] of handlers) process.on(sig, h);
  if (!opts.inputOnlyIfReadable || stdinReadable()) void relayStdin(client, id);
  try {
    return await Promise.race([followOutput(client, id, { from: opts.from, attach: true }), givenUp]);
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

/**
 * Ctrl-Z (SIGTSTP) goes to the program first, and once it has it we stop ourselves, so the shell
 * sees the job stopped; fg and bg continue us (SIGCONT), and we continue the program. A program
 * that catches SIGTSTP decides for itself, as a local one does. One that cannot be reached
 * (frozen, ended, the orchestrator away) does not keep us from stopping.
 */
function jobControl(id: number, pass: (sig: SignalName) => Promise<void>): [SignalName, () => void][] {
  const tell = (sig: SignalName) =>
    pass(sig).catch((err: unknown) => {
      if (!isNotRunning(err)) say(`could not pass ${sig} to process ${id}: ${(err as Error).message}`);
    });
  return [
    [
      'SIGTSTP',
      () => {
        // nothing more on the terminal after its ^Z, as from a local job: what the program wrote
        // before it stopped comes at fg
        const release = holdOutput();
        void tell('SIGTSTP').then(() => {
          process.kill(process.pid, 'SIGSTOP');
          release();
        });
      },
    ],
    ['SIGCONT', () => void tell('SIGCONT')],
  ];
}

/** Whether there is anything to read on fd 0: not when it is closed or /dev/null. */
function stdinReadable(): boolean {
  try {
    const st = fs.fstatSync(0);
    if (st.isCharacterDevice() && st.rdev === fs.statSync('/dev/null').rdev) return false;
    return true;
  } catch (err) {
    // fd 0 closed (`mosrun prog <&-`): nothing to read
    if (!isErrno(err, 'EBADF')) throw err;
    return false;
  }
}

/** Never rejects: a failure to pass stdin is reported, and the program goes on. */
async function relayStdin(client: GodwitClient, id: number): Promise<void> {
  try {
    if (stdinReadable()) {
      for await (const chunk of process.stdin as AsyncIterable<Buffer>) await client.sendStdin(id, chunk);
    }
    await client.sendStdin(id, new Uint8Array(0), { eof: true });
  } catch (err) {
    // Once the program has ended its stdin is gone: nothing to say about that.
    if (isNotRunning(err)) return;
    say(`stopped passing stdin to process ${id}: ${(err as Error).message}`);
  } finally {
    process.stdin.destroy();
  }
}

let held: Promise<void> | null = null;

/** Holds our output back until the returned function is called. */
function holdOutput(): () => void {
  let release = () => {};
  const hold = new Promise<void>((r) => (release = r));
  held = hold;
  return () => {
    if (held === hold) held = null;
    release();
  };
}

async function write(stream: OutputStream, data: Buffer): Promise<void> {
  while (held) await held;
  await writeOutput(stream, data);
}

/**
 * Copies the program's output to ours from offset `from` until its exit line; reconnects from
 * the last offset when the stream drops (an orchestrator restart), for up to a minute. `attach`:
 * as its foreground, which the orchestrator counts as the program's terminal (a program started
 * attached gets SIGHUP when its last attached follower is gone).
 */
export async function followOutput(client: GodwitClient, id: number, opts: { from?: number; attach?: boolean } = {}): Promise<number> {
  const unfollow = followedThrough(client, id);
  try {
    return await copyOutput(client, id, opts.from ?? 0, opts.attach ?? false);
  } finally {
    unfollow();
  }
}

async function copyOutput(client: GodwitClient, id: number, from: number, attach: boolean): Promise<number> {
  // how far it has really written: the orchestrator lets the program run only so far ahead
  const written = attach ? writtenAcks(client, id) : () => {};
  let next = from;
  let backoff = 100;
  let lostSince: number | null = null;
  for (;;) {
    let lastError: unknown = null;
    try {
      for await (const line of client.output(id, { offset: next, follow: true, attach })) {
        lostSince = null;
        backoff = 100;
        if ('exit' in line) return line.exit.checkpoint !== undefined ? checkpointedExit(id, line.exit.checkpoint, say) : ended(id, line.exit);
        const data = Buffer.from(line.data, 'base64');
        // A resumed stream may repeat bytes we already wrote: offset is where this chunk begins.
        const skip = Math.max(0, next - line.offset);
        if (skip < data.length) await write(line.stream, skip ? data.subarray(skip) : data);
        next = Math.max(next, line.offset + data.length);
        written(next);
      }
    } catch (err) {
      // The API answering with an error (process gone, forbidden) is not a dropped stream.
      if (err instanceof GodwitError) throw err;
      lastError = err;
    }
    lostSince ??= Date.now();
    if (Date.now() - lostSince > RECONNECT_MS) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new CliError(
        `lost the output of process ${id} and could not reconnect to ${client.where} within ${RECONNECT_MS / 1000} s${why}; it may still be running (\`mosps\`)`,
      );
    }
    await sleep(backoff);
    backoff = Math.min(backoff * 2, 2000);
  }
}
