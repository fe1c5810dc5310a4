import { expect } from 'chai';
import { SIGNAL_NAMES } from '@godwit/schemas';
import os from 'node:os';
import { buildKillCommand, parseKillArgs, type KillArgs } from '../../../cli/src/commands/kill.js';
import { DEFAULT_BACK_BYTES, fromOffset, parseFrom } from '../../../cli/src/commands/attach.js';
import { UsageError } from '../../../cli/src/errors.js';
import { configureCommand } from '../../../cli/src/program.js';
import { FORWARDED, parseSignal } from '../../../cli/src/signals.js';

/** Parses like `godwit kill` would, capturing what it would send. */
async function kill(argv: string[]): Promise<KillArgs> {
  let got: KillArgs | null = null;
  const cmd = buildKillCommand('kill', async (a) => {
    got = a;
  });
  configureCommand(cmd);
  cmd.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  await cmd.parseAsync(['node', 'kill', ...argv]);
  if (!got) throw new Error(`kill ${argv.join(' ')} sent nothing`);
  return got;
}

describe('signal names', () => {
  it("numbers the signals as Linux does (os.constants.signals)", () => {
    const linux = os.constants.signals as Record<string, number>;
    SIGNAL_NAMES.forEach((name, i) => expect(linux[name], name).to.equal(i + 1));
  });

  it('takes a name with or without SIG, in any case, an alias, or a number', () => {
    expect(parseSignal('USR1')).to.equal('SIGUSR1');
    expect(parseSignal('sigusr2')).to.equal('SIGUSR2');
    expect(parseSignal('SIGTERM')).to.equal('SIGTERM');
    expect(parseSignal('9')).to.equal('SIGKILL');
    expect(parseSignal('28')).to.equal('SIGWINCH');
    expect(parseSignal('IOT')).to.equal('SIGABRT');
  });

  it('refuses an unknown name or number, saying what it takes', () => {
    expect(() => parseSignal('FOO')).to.throw(UsageError, /unknown signal 'FOO'.*TERM, SIGUSR1/);
    expect(() => parseSignal('0')).to.throw(UsageError, /no signal number 0: the signals are 1 to 31/);
    expect(() => parseSignal('32')).to.throw(UsageError, /no signal number 32/);
  });

  it('passes on every catchable signal but those that are mosrun’s own', () => {
    for (const s of ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGALRM']) expect(FORWARDED).to.include(s);
    for (const s of ['SIGKILL', 'SIGSTOP', 'SIGCHLD', 'SIGPIPE', 'SIGSEGV', 'SIGTTIN', 'SIGTTOU']) expect(FORWARDED).not.to.include(s);
  });
});

describe('godwit kill arguments', () => {
  it('sends SIGTERM unless told otherwise', async () => {
    expect(await kill(['12'])).to.deep.equal({ list: false, json: false, id: '12', signal: 'SIGTERM' });
    expect(await kill(['--json', '12'])).to.deep.equal({ list: false, json: true, id: '12', signal: 'SIGTERM' });
  });

  it("takes kill(1)'s forms: ID SIG, -SIG ID, -N ID, -s SIG ID, --signal=SIG", async () => {
    expect(await kill(['12', 'USR2'])).to.include({ id: '12', signal: 'SIGUSR2' });
    expect(await kill(['-USR2', '12'])).to.include({ id: '12', signal: 'SIGUSR2' });
    expect(await kill(['-SIGHUP', '12'])).to.include({ id: '12', signal: 'SIGHUP' });
    expect(await kill(['-9', '12'])).to.include({ id: '12', signal: 'SIGKILL' });
    expect(await kill(['-s', 'int', '12'])).to.include({ id: '12', signal: 'SIGINT' });
    expect(await kill(['12', '-s', 'QUIT'])).to.include({ id: '12', signal: 'SIGQUIT' });
    expect(await kill(['--signal=WINCH', '12'])).to.include({ id: '12', signal: 'SIGWINCH' });
    expect(await kill(['-l'])).to.deep.equal({ list: true, json: false });
  });

  it('refuses what it cannot send, with usage errors', () => {
    const usage = (args: string[], re: RegExp) => expect(() => parseKillArgs(args), args.join(' ')).to.throw(UsageError, re);
    usage([], /missing the process/);
    usage(['-USR1'], /missing the process/);
    usage(['abc'], /'abc' is not a process id/);
    usage(['12', 'BOGUS'], /unknown signal 'BOGUS'/);
    usage(['-BOGUS', '12'], /unknown signal 'BOGUS'/);
    usage(['-s'], /-s needs a signal/);
    usage(['-HUP', '12', 'TERM'], /one signal at a time: SIGHUP and SIGTERM/);
    usage(['12', 'TERM', '13'], /one process at a time/);
    usage(['-l', '12'], /-l lists the signals/);
  });
});

describe('godwit attach --from', () => {
  it('starts at the start, now, an offset, or bytes back', () => {
    expect(fromOffset(parseFrom('start'), 10_000)).to.equal(0);
    expect(fromOffset(parseFrom('now'), 10_000)).to.equal(10_000);
    expect(fromOffset(parseFrom('123'), 10_000)).to.equal(123);
    expect(fromOffset(parseFrom('-100'), 10_000)).to.equal(9_900);
    expect(fromOffset({ back: DEFAULT_BACK_BYTES }, 100)).to.equal(0);
  });

  it('refuses anything else, saying what it takes', () => {
    expect(() => parseFrom('end')).to.throw(/'end' is not start, now, a byte offset/);
  });
});
