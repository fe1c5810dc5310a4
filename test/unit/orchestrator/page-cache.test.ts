import { expect } from 'chai';
import { createPageCache, type Page } from '../../../orchestrator/src/page-cache.js';

describe('pages given again while the database is unchanged', () => {
  const page = (text: string): Page => ({ body: Buffer.from(text) });

  it('makes a page once while nothing changed, again after any change; keys apart', () => {
    let changes = 0;
    let made = 0;
    const cache = createPageCache(() => changes);
    const get = (key: string) => cache.get(key, () => page(`${key} ${++made}`)).body.toString();
    expect(get('a')).to.equal('a 1');
    expect(get('a'), 'kept: nothing changed').to.equal('a 1');
    expect(get('b'), 'another key is made for itself').to.equal('b 2');
    changes++;
    expect(get('a'), 'made again after a change').to.equal('a 3');
    expect(get('b')).to.equal('b 4');
    expect(made).to.equal(4);
  });

  it('keeps at most its entries and bytes, dropping the oldest; a page larger than all is given but not kept', () => {
    let made = 0;
    const cache = createPageCache(() => 0, { entries: 2, bytes: 10 });
    const get = (key: string, size = 3) => cache.get(key, () => (made++, page('x'.repeat(size))));
    get('a');
    get('b');
    get('c');
    expect(made).to.equal(3);
    get('b');
    get('c');
    expect(made, 'b and c kept').to.equal(3);
    get('a');
    expect(made, 'a was dropped for c').to.equal(4);
    get('big', 8);
    expect(made).to.equal(5);
    get('c');
    get('a');
    expect(made, 'room was made for the 8 bytes: both dropped').to.equal(7);
    expect(cache.get('huge', () => (made++, page('x'.repeat(11)))).body.length).to.equal(11);
    cache.get('huge', () => (made++, page('x'.repeat(11))));
    expect(made, 'the page larger than the bound made each time').to.equal(9);
  });
});
