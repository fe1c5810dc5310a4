import { expect } from 'chai';
import type { Node } from '@godwit/schemas';
import { renderNodeList } from '../../../cli/src/views/nodes.js';

describe('mossetpe -r', () => {
  it('prints each node as MOSIX lists them: number, address, and its name', () => {
    const node = (name: string, url: string): Node => ({ name, url, state: 'online', lastSeen: 1, features: null, platform: null, load: null, drained: false });
    expect(renderNodeList([node('node0', 'http://10.77.42.10:7701'), node('node1', 'http://10.77.42.11:7701')])).to.equal(
      '1 10.77.42.10 node0\n2 10.77.42.11 node1\n',
    );
  });
});
