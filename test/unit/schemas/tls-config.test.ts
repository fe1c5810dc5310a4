import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTls, TlsConfigError } from '@godwit/schemas/tls';
import { loadConfig as loadAgentConfig } from '../../../agent/src/config.js';
import { checkConfig, ConfigError } from '../../../orchestrator/src/config.js';

const orchestrator = {
  listen: { host: '127.0.0.1', port: 7700 },
  dataDir: '/var/lib/godwit',
  checkpointDir: '/srv/godwit/checkpoints',
  users: [{ name: 'alice', token: 'alice-token-0123456789' }],
  nodes: [{ name: 'node0', url: 'https://10.0.0.1:7701', token: 'node0-token-0123456789' }],
};

const agent = {
  node: 'node0', listen: { host: '10.0.0.1', port: 7701 }, url: 'https://10.0.0.1:7701', token: 'node0-token-0123456789',
  clusterKeyFile: '/etc/godwit/cluster.key', orchestrator: { url: 'https://10.0.0.254:7700' }, dataDir: '/var/lib/godwit',
  criuPath: '/usr/local/sbin/criu', keeperPath: '/usr/lib/godwit/godwit-keeper', tiniPath: '/usr/bin/tini', cgroups: [],
  checkpointDir: '/srv/godwit/checkpoints',
};

describe('TLS configuration', () => {
  let dir: string;
  let files: { caFile: string; certFile: string; keyFile: string };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-tls-config-'));
    files = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'node0.crt'), keyFile: join(dir, 'node0.key') };
    for (const f of Object.values(files)) writeFileSync(f, `pem of ${f}`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses an orchestrator configuration without "tls", saying how to give it or turn it off', () => {
    expect(() => checkConfig(orchestrator, 'configuration x.json')).to.throw(ConfigError, /x\.json has no "tls": TLS is on unless turned off explicitly.*"tls": false for clear text/);
  });

  it('refuses an agent configuration without "tls"', () => {
    const file = join(dir, 'agent.json');
    writeFileSync(file, JSON.stringify(agent));
    expect(() => loadAgentConfig(file)).to.throw(/agent configuration .*agent\.json has no "tls": TLS is on unless turned off explicitly/);
    writeFileSync(file, JSON.stringify({ ...agent, tls: true }));
    expect(() => loadAgentConfig(file), 'tls: true is neither files nor false').to.throw(/invalid agent configuration .*\/tls/);
    writeFileSync(file, JSON.stringify({ ...agent, tls: files }));
    expect(loadAgentConfig(file).tls).to.deep.equal(files);
  });

  it('refuses a URL whose scheme disagrees with "tls", naming the field', () => {
    const warn = () => expect.fail('no warning with TLS on');
    const start = { source: 'configuration c.json', component: 'the agent of node0', warn };
    expect(() => loadTls({ ...start, tls: files, urls: [{ what: 'orchestrator.url', url: 'http://10.0.0.254:7700' }] }))
      .to.throw(TlsConfigError, /c\.json: orchestrator\.url http:\/\/10\.0\.0\.254:7700 is not https, but "tls" is on/);
    expect(() => loadTls({ ...start, tls: false, urls: [{ what: 'url', url: 'https://10.0.0.1:7701' }], warn: () => undefined }))
      .to.throw(TlsConfigError, /c\.json: url https:\/\/10\.0\.0\.1:7701 is not http, but "tls" is false/);
    expect(() => loadTls({ ...start, tls: { ...files, keyFile: join(dir, 'missing.key') }, urls: [] }))
      .to.throw(TlsConfigError, /cannot read tls\.keyFile .*missing\.key/);
    const read = loadTls({ ...start, tls: files, urls: [{ what: 'url', url: 'https://10.0.0.1:7701' }] });
    expect(read?.cert.toString()).to.equal(`pem of ${files.certFile}`);
  });

  it('warns, once, that traffic is clear text when "tls" is false', () => {
    const said: string[] = [];
    const material = loadTls({
      source: 'configuration c.json', component: 'the orchestrator', tls: false,
      urls: [{ what: "node node0's url", url: 'http://10.0.0.1:7701' }], warn: (m) => said.push(m),
    });
    expect(material).to.equal(undefined);
    expect(said).to.have.length(1);
    expect(said[0]).to.match(/^WARNING: the orchestrator runs with "tls": false: its traffic .* clear text/);
  });
});
