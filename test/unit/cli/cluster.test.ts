import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { clusterDirs, detectCgroups, nodeDirs, setLimits } from '../../../cli/src/cluster/cgroups.js';
import { names } from '../../../cli/src/cluster/index.js';
import { renderStatus } from '../../../cli/src/views/cluster-status.js';
import { writeJson } from '../../../cli/src/cluster/state.js';
import { findCriu } from '../../../cli/src/cluster/configs.js';
import { CliError } from '../../../cli/src/errors.js';

function fakeTree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'godwit-cg-'));
  for (const [f, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), content);
  }
  return root;
}

describe('local cluster layout', () => {
  const roots: string[] = [];
  after(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));

  it('names things after the cluster id', () => {
    expect(names.bridge(9)).to.equal('gw9br');
    expect(names.netns(9, 2)).to.equal('gw9n2');
    expect(names.veth(200, 63)).to.equal('gw200v63');
    expect(names.veth(200, 63).length).to.be.at.most(15);
    expect(names.address(9, 2)).to.equal('10.77.9.12');
    expect(names.gateway(9)).to.equal('10.77.9.1');
  });

  it('detects cgroup v1, with cpuacct on a mount of its own, and writes quota and limit', () => {
    const root = fakeTree({
      'cpu/cpu.cfs_quota_us': '-1',
      'cpu/cgroup.procs': '',
      'memory/memory.limit_in_bytes': '0',
      'memory/cgroup.procs': '',
    });
    roots.push(root);
    let layout = detectCgroups(root);
    expect(layout).to.deep.equal({ version: 1, cpu: `${root}/cpu`, cpuacct: null, memory: `${root}/memory` });
    const dirs = nodeDirs(layout, 9, 'node0');
    expect(dirs).to.deep.equal([`${root}/cpu/godwit-9/node0`, `${root}/memory/godwit-9/node0`]);
    for (const d of dirs) fs.mkdirSync(d, { recursive: true });
    setLimits(layout, dirs, 1.5, 512 * 2 ** 20);
    expect(fs.readFileSync(`${dirs[0]}/cpu.cfs_quota_us`, 'utf8')).to.equal('150000');
    expect(fs.readFileSync(`${dirs[0]}/cpu.cfs_period_us`, 'utf8')).to.equal('100000');
    expect(fs.readFileSync(`${dirs[1]}/memory.limit_in_bytes`, 'utf8')).to.equal(String(512 * 2 ** 20));
    // The same tmpfs for both: not a separate mount, so not listed.
    fs.mkdirSync(`${root}/cpuacct`);
    fs.writeFileSync(`${root}/cpuacct/cgroup.procs`, '');
    layout = detectCgroups(root);
    expect(layout.version === 1 && layout.cpuacct).to.equal(null);
  });

  it('detects cgroup v2 and writes cpu.max and memory.max', () => {
    const root = fakeTree({ 'cgroup.controllers': 'cpuset cpu io memory pids\n' });
    roots.push(root);
    const layout = detectCgroups(root);
    expect(layout).to.deep.equal({ version: 2, root });
    expect(clusterDirs(layout, 3)).to.deep.equal([`${root}/godwit-3`]);
    const dirs = nodeDirs(layout, 3, 'node1');
    fs.mkdirSync(dirs[0]!, { recursive: true });
    setLimits(layout, dirs, 1, 2048 * 2 ** 20);
    expect(fs.readFileSync(`${dirs[0]}/cpu.max`, 'utf8')).to.equal('100000 100000');
    expect(fs.readFileSync(`${dirs[0]}/memory.max`, 'utf8')).to.equal(String(2048 * 2 ** 20));
  });

  it('refuses cgroup v2 without the cpu controller', () => {
    const root = fakeTree({ 'cgroup.controllers': 'memory pids\n' });
    roots.push(root);
    expect(() => detectCgroups(root)).to.throw(/lacks the cpu controller/);
  });

  it('renders the status of a cluster and of none', () => {
    expect(renderStatus({ up: false, id: null, statePath: '/x/state.json', ready: false, orchestrator: null, nodes: [], holderPid: null })).to.equal(
      'no cluster is up (no /x/state.json)\n',
    );
    const out = renderStatus({
      up: true, id: 9, statePath: '/x', ready: true, holderPid: null,
      orchestrator: { url: 'http://10.77.9.1:7700', pid: 10, alive: true, reachable: true, error: null },
      nodes: [
        { name: 'node0', address: '10.77.9.10', pid: 11, alive: true, state: 'online' },
        { name: 'node1', address: '10.77.9.11', pid: 12, alive: false, state: 'offline' },
      ],
    });
    expect(out).to.match(/^cluster 9: up\n/);
    expect(out).to.match(/node1\s+10\.77\.9\.11\s+12\s+dead\s+offline/);
  });

  it('writes its configuration files (tokens) readable by their owner only, also over one readable by all', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'godwit-cfg-'));
    roots.push(dir);
    const file = path.join(dir, 'config.json');
    writeJson(file, { token: 'a' });
    expect((fs.statSync(file).mode & 0o777).toString(8)).to.equal('600');
    fs.chmodSync(file, 0o644);
    writeJson(file, { token: 'b' });
    expect((fs.statSync(file).mode & 0o777).toString(8)).to.equal('600');
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).to.deep.equal({ token: 'b' });
  });
});

describe('the CRIU a local cluster runs (GODWIT_CRIU)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'godwit-criu-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('takes an executable file named by its absolute path', () => {
    const own = path.join(dir, 'criu');
    fs.writeFileSync(own, '#!/bin/sh\n', { mode: 0o755 });
    expect(findCriu({ GODWIT_CRIU: own })).to.equal(own);
  });

  it('refuses a relative path, a missing file, one not executable, a directory and a file not named criu, saying which and why', () => {
    const plain = path.join(dir, 'plain');
    fs.writeFileSync(plain, '', { mode: 0o644 });
    const renamed = path.join(dir, 'criu-0009');
    fs.writeFileSync(renamed, '#!/bin/sh\n', { mode: 0o755 });
    const cases: [string, RegExp][] = [
      ['criu', /absolute path .*"criu"/],
      [path.join(dir, 'absent'), /absent, which is not an executable file \(ENOENT\)/],
      [plain, /plain, which is not an executable file/],
      [dir, /which is not an executable file \(not a regular file\)/],
      [renamed, /criu-0009: the file must be named criu .*criu-0009\.d\/criu/],
    ];
    for (const [value, why] of cases) {
      // root may execute a file without any x bit only if one is set: a 0644 file is refused too
      expect(() => findCriu({ GODWIT_CRIU: value }), value).to.throw(CliError, why);
    }
  });
});
