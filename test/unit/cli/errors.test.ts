import { expect } from 'chai';
import { CommanderError } from '@commander-js/extra-typings';
import { GodwitError } from '@godwit/schemas';
import { CliError, UsageError, renderError } from '../../../cli/src/errors.js';

describe('CLI error rendering', () => {
  it('prints an API error as `godwit: message` with its details, exit 1', () => {
    const err = new GodwitError('GODWIT_ERR_NODE_NOT_FOUND', "no node 'node9'", { nodes: ['node0', 'node1', 'node2'] });
    const r = renderError(err);
    expect(r.exitCode).to.equal(1);
    expect(r.text).to.equal("godwit: no node 'node9'\n  nodes: node0, node1, node2\n");
  });

  it('prints log lines in details one per line, the last 30 at most', () => {
    const lines = Array.from({ length: 40 }, (_, i) => `(00.0${i}) Error (criu/cr-dump.c:1): line ${i}`);
    const r = renderError(new GodwitError('GODWIT_ERR_CANNOT_DUMP', 'CRIU could not dump process 3', { criuLog: lines }));
    const out = r.text.split('\n');
    expect(out[0]).to.equal('godwit: CRIU could not dump process 3');
    expect(out[1]).to.equal('  criuLog:');
    expect(out[2]).to.contain('10 lines before');
    expect(r.text).to.contain('line 39');
    expect(r.text).to.not.contain('line 9\n');
  });

  it('says a failed start as a shell does: the message alone, exit 127 or 126 as the agent found', () => {
    const details = { stage: 'program', errno: 'ENOENT', exitCode: 127, node: 'node0', agentStatus: 422, processId: 21 };
    expect(renderError(new GodwitError('GODWIT_ERR_LAUNCH_FAILED', 'nosuch: command not found on node0', details))).to.deep.equal({
      text: 'godwit: nosuch: command not found on node0\n',
      exitCode: 127,
    });
    const dir = new GodwitError('GODWIT_ERR_LAUNCH_FAILED', '/tmp: is a directory on node0', { ...details, errno: 'EISDIR', exitCode: 126 });
    expect(renderError(dir).exitCode).to.equal(126);
    // without a shell's status (an older agent), the error is an ordinary one
    expect(renderError(new GodwitError('GODWIT_ERR_LAUNCH_FAILED', 'could not start process 3 on node0')).exitCode).to.equal(1);
  });

  it("never prints an agent's HTTP status", () => {
    const err = new GodwitError('GODWIT_ERR_CANNOT_DUMP', 'CRIU could not dump process 3', { node: 'node1', agentStatus: 422 });
    expect(renderError(err).text).to.equal('godwit: CRIU could not dump process 3\n  node: node1\n');
  });

  it('never prints a stack', () => {
    const err = new Error('boom');
    const r = renderError(err);
    expect(r.text).to.equal('godwit: boom\n');
    expect(r.exitCode).to.equal(1);
    expect(renderError('plain').text).to.equal('godwit: plain\n');
  });

  it('uses exit 2 for usage errors and 0 for help', () => {
    expect(renderError(new UsageError('bad')).exitCode).to.equal(2);
    expect(renderError(new CliError('x', { code: 'USAGE' })).exitCode).to.equal(2);
    expect(renderError(new CommanderError(1, 'commander.unknownOption', 'error: unknown option')).exitCode).to.equal(2);
    expect(renderError(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'))).to.deep.equal({ text: '', exitCode: 0 });
  });
});
