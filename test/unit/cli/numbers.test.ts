/** MOSIX's node numbers and letters in the CLI: numbering, parsing, rendering, "did you mean". */
import { expect } from 'chai';
import { GodwitError, type Node } from '@godwit/schemas';
import { buildRunCommand, type RunArgs } from '../../../cli/src/commands/run.js';
import { parseBsdLetters } from '../../../cli/src/commands/ps.js';
import { signalFlagAsOption } from '../../../cli/src/commands/killall.js';
import { parseSignal } from '../../../cli/src/signals.js';
import { runNative } from '../../../cli/src/commands/native.js';
import { buildGodwitProgram } from '../../../cli/src/commands/index.js';
import { renderWhois } from '../../../cli/src/views/nodes.js';
import { findNode, numberNodes, resolveNode } from '../../../cli/src/node-numbers.js';
import { nodeStatus, renderNodeStatus } from '../../../cli/src/node-status.js';
import { configureCommand, type AnyCommand } from '../../../cli/src/program.js';
import { renderError } from '../../../cli/src/errors.js';
import { renderPsTable, selectProcesses } from '../../../cli/src/views/processes.js';
import { didYouMean, nearest } from '../../../cli/src/suggest.js';
import { fakeProcess } from './fake-process.js';

function node(i: number, over: Partial<Node> = {}): Node {
  return { name: `node${i}`, url: `http://10.77.5.${10 + i}:7701`, state: 'online', lastSeen: 1, features: null, platform: null, load: null, drained: false, ...over };
}
const nodes = [node(0), node(1), node(2)];

/** Parses like the `mosrun` binary, capturing the arguments and what it says on stderr. */
async function mosrun(argv: string[]): Promise<{ args: RunArgs | null; err: unknown; notes: string }> {
  let args: RunArgs | null = null;
  let notes = '';
  const cmd = configureCommand(buildRunCommand('mosrun', async (a) => void (args = a)));
  cmd.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => ((notes += s), true)) as typeof process.stderr.write;
  try {
    await cmd.parseAsync(['node', 'mosrun', ...argv]);
    return { args, err: null, notes };
  } catch (err) {
    return { args, err, notes };
  } finally {
    process.stderr.write = write;
  }
}

describe('node numbers', () => {
  it('numbers the nodes from 1 in the list order, as mossetpe -r does', () => {
    expect(numberNodes(nodes).map((n) => [n.number, n.name, n.address])).to.deep.equal([
      [1, 'node0', '10.77.5.10'],
      [2, 'node1', '10.77.5.11'],
      [3, 'node2', '10.77.5.12'],
    ]);
  });

  it('finds a node by number, name or address', () => {
    for (const spec of ['2', 'node1', '10.77.5.11']) expect(findNode(nodes, spec)?.name, spec).to.equal('node1');
    for (const spec of ['0', '4', 'node9', '10.77.5.9']) expect(findNode(nodes, spec), spec).to.equal(undefined);
  });

  it('refuses an unknown node naming the nodes there are, and what it may have been meant as', () => {
    const refused = (spec: string, words: string[] = []) => {
      try {
        resolveNode(nodes, spec, words);
      } catch (err) {
        expect(err).to.be.instanceOf(GodwitError);
        expect((err as GodwitError).code).to.equal('GODWIT_ERR_NODE_NOT_FOUND');
        return (err as Error).message;
      }
      throw new Error(`${spec} was taken`);
    };
    expect(refused('7')).to.equal('no node 7; the nodes are (number, name, address): 1 node0 (10.77.5.10), 2 node1 (10.77.5.11), 3 node2 (10.77.5.12)');
    expect(refused('frezee', ['home', 'freeze', 'continue'])).to.match(/^no node frezee \(did you mean freeze\?\); the nodes are .*; or one of: home, freeze, continue$/);
    expect(refused('nod1')).to.match(/^no node nod1 \(did you mean node1\?\)/);
  });

  it('mosctl whois: a number gives the name, a name or address the number', () => {
    expect(renderWhois(resolveNode(nodes, '3'), '3')).to.equal('node2\n');
    expect(renderWhois(resolveNode(nodes, '10.77.5.12'), '10.77.5.12')).to.equal('3\n');
    expect(renderWhois(resolveNode(nodes, 'node2'), 'node2')).to.equal('3\n');
  });
});

describe('did you mean', () => {
  it('suggests the nearest words within a few edits, and nothing when none is near', () => {
    expect(nearest('frezee', ['freeze', 'continue', 'exit'])).to.deep.equal(['freeze']);
    expect(nearest('chekpoint', ['checkpoint', 'checkstop'])).to.deep.equal(['checkpoint']);
    expect(didYouMean('xyzzy', ['freeze', 'home'])).to.equal('');
    expect(didYouMean('hoem', ['freeze', 'home'])).to.equal(' (did you mean home?)');
  });
});

describe("mosrun's MOSIX node flags and program options", () => {
  it('takes a node by number as a flag (-2), by address (-10.77.5.11), and -rN / -rNAME / -rADDRESS', async () => {
    for (const [argv, node] of [
      [['-2', 'prog'], '2'],
      [['-10.77.5.11', 'prog'], '10.77.5.11'],
      [['-r2', 'prog'], '2'],
      [['-r', '3', 'prog'], '3'],
      [['-rnode1', 'prog'], 'node1'],
      [['-r10.77.5.12', 'prog'], '10.77.5.12'],
      [['-C', 'job', '-N', '3', '-2', 'prog'], '2'],
    ] as const) {
      const { args, err } = await mosrun([...argv]);
      expect(err, argv.join(' ')).to.equal(null);
      expect([args!.node, args!.argv[0]], argv.join(' ')).to.deep.equal([node, 'prog']);
    }
    expect((await mosrun(['-C', 'job', '-N', '3', '-2', 'prog'])).args!.checkpoint).to.deep.equal({ file: 'job', max: 3 });
  });

  it("leaves the program's own -2 alone, and refuses a node flag with -h or -b", async () => {
    expect((await mosrun(['prog', '-2'])).args!.argv).to.deep.equal(['prog', '-2']);
    expect((await mosrun(['--', '-2'])).args!.argv).to.deep.equal(['-2']);
    for (const argv of [['-h', '-2', 'prog'], ['-b', '-3', 'prog']]) {
      const { args, err } = await mosrun(argv);
      expect(args, argv.join(' ')).to.equal(null);
      expect(renderError(err).exitCode).to.equal(2);
    }
  });

  it('accepts -e -w -u -t -c -d N -X DIR, each with a one-line note of why godwit does not need it', async () => {
    const { args, notes } = await mosrun(['-e', '-t', '-c', '-d', '500', '-X/tmp', 'ls', '-la']);
    expect(args!.argv).to.deep.equal(['ls', '-la']);
    const lines = notes.trimEnd().split('\n');
    expect(lines.map((l) => /^godwit: (-\w): not needed, /.exec(l)?.[1])).to.deep.equal(['-e', '-t', '-c', '-d', '-X']);
    expect(notes).to.match(/-t: not needed, a godwit program always reads the clock of the node it runs on/);
    const wu = await mosrun(['-w', '-u', 'prog']);
    expect(wu.notes.match(/^godwit: -[wu]: not needed, none of a godwit program's system calls is unsupported/gm)).to.have.length(2);
    expect((await mosrun(['-d', '20000', 'prog'])).args).to.equal(null);
  });
});

describe("mosps's MOSIX letters", () => {
  const here = 'node0';
  const procs = [
    fakeProcess({ id: 1, homeNode: 'node0', node: 'node0' }),
    fakeProcess({ id: 2, homeNode: 'node0', node: 'node2', nmigs: 1 }),
    fakeProcess({ id: 3, homeNode: 'node1', node: 'node0', owner: 'bob' }),
    fakeProcess({ id: 4, homeNode: 'node1', node: 'node2', owner: 'bob' }),
  ];
  const ids = (only: 'local' | 'away' | 'guests') => selectProcesses(procs, { where: { here, only } }).map((p) => p.id);

  it('-L only local processes, -O only those away, -V only guests; -u USER only theirs', () => {
    expect(ids('local')).to.deep.equal([1, 2]);
    expect(ids('away')).to.deep.equal([2]);
    expect(ids('guests')).to.deep.equal([3]);
    expect(selectProcesses(procs, { user: 'bob' }).map((p) => p.id)).to.deep.equal([3, 4]);
  });

  it('-P adds ORIGPID', () => {
    const lines = renderPsTable([fakeProcess({ origPid: 4242, pid: 77 })], { origPid: true }).split('\n');
    expect(lines[0]).to.match(/^ID\s+PID\s+ORIGPID\s+WHERE/);
    expect(lines[1]).to.match(/^1\s+4242\s+4242\s+node0/);
  });

  it("takes ps's BSD letters (aux) and refuses others", () => {
    expect(parseBsdLetters('aux')).to.deep.equal({ others: true, verbose: true });
    expect(parseBsdLetters('x')).to.deep.equal({ others: false, verbose: false });
    expect(() => parseBsdLetters('aqx')).to.throw(/'aqx' is not a ps letter group/);
  });
});

describe('moskillall', () => {
  it('takes MOSIX -SIGNAL as a number or a name, with or without SIG', () => {
    expect(signalFlagAsOption(['-9'])).to.deep.equal(['--signal=9']);
    expect(signalFlagAsOption(['-KILL', '--json'])).to.deep.equal(['--signal=KILL', '--json']);
    expect(['9', 'KILL', 'kill', 'SIGKILL'].map(parseSignal)).to.deep.equal(['SIGKILL', 'SIGKILL', 'SIGKILL', 'SIGKILL']);
    expect(parseSignal('15')).to.equal('SIGTERM');
    expect(() => parseSignal('TREM')).to.throw(/unknown signal 'TREM' \(did you mean TERM\?\)/);
  });
});

describe('mosctl status', () => {
  it("prints a node's state as MOSIX's key: value lines", () => {
    const n = node(1, { load: { at: 1, cpuCapacity: 2, cpuUsed: 0.29, memTotalBytes: 1010 * 2 ** 20, memFreeBytes: 903 * 2 ** 20, running: 1 } });
    const text = renderNodeStatus(nodeStatus(numberNodes([node(0), n])[1]!, [fakeProcess({ node: 'node1', state: 'frozen', frz: 'M' })]));
    expect(text).to.equal(
      [
        'Node: 2 node1 (10.77.5.11)',
        'Status: Running Normally',
        'Load: 0.29 (equivalent to about 0.29 CPU processes)',
        'CPUS: 2',
        'Frozen: 1',
        'Avail: YES',
        'Procs: Running 1 godwit processes',
        'Accept: Yes, will welcome processes from here',
        'Memory: Available 903 MiB/1010 MiB',
        '',
      ].join('\n'),
    );
    const drained = renderNodeStatus(nodeStatus(numberNodes([node(0, { drained: true })])[0]!, []));
    expect(drained).to.match(/^Status: Running, drained/m).and.match(/^Avail: NO$/m).and.match(/^Accept: No: drained/m).and.match(/^Load: unknown/m);
  });
});

describe('mosnative', () => {
  it("runs a program here with its exit status, or a shell's 127 and 126 when it cannot start", async () => {
    expect(await runNative(['sh', '-c', 'exit 3'])).to.equal(3);
    expect(await runNative(['sh', '-c', 'kill -TERM $$'])).to.equal(143);
    const failure = async (argv: string[]) => runNative(argv).then(() => null, (err: unknown) => [renderError(err).exitCode, renderError(err).text]);
    expect(await failure(['/nonexistent/prog'])).to.deep.equal([127, 'godwit: /nonexistent/prog: command not found\n']);
    expect(await failure(['/tmp'])).to.deep.equal([126, 'godwit: /tmp: permission denied (not an executable file)\n']);
  });
});

describe('did you mean, in every command', () => {
  /** what the command says to `argv` */
  async function said(argv: string[]): Promise<string> {
    let err = '';
    const program = configureCommand(buildGodwitProgram());
    const capture = (c: AnyCommand): void => {
      c.configureOutput({ writeErr: (s) => (err += s), writeOut: () => {} });
      c.commands.forEach(capture);
    };
    capture(program);
    await program.parseAsync(['node', 'godwit', ...argv]).catch(() => undefined);
    return err;
  }
  const leaves = (c: AnyCommand, path: string[] = []): string[][] =>
    c.commands.length ? c.commands.flatMap((s) => leaves(s, [...path, s.name()])) : [path];

  it('suggests the nearest command, at every level', async () => {
    expect(await said(['migrat', '1', '2'])).to.contain('(Did you mean migrate?)');
    expect(await said(['ctl', 'stauts'])).to.contain('(Did you mean status?)');
    expect(await said(['ctl', 'balance', 'stauts'])).to.contain('(Did you mean status?)');
  });

  it('suggests the nearest long option in every command that has one', async function () {
    this.timeout(30_000);
    const withJson = leaves(buildGodwitProgram()).filter((path) => {
      let c: AnyCommand | undefined = buildGodwitProgram();
      for (const name of path) c = c?.commands.find((s) => s.name() === name);
      return c?.options.some((o) => o.long === '--json');
    });
    expect(withJson.length).to.be.greaterThan(10);
    for (const path of withJson) expect(await said([...path, '--jsn']), path.join(' ')).to.contain('(Did you mean --json?)');
  });
});
