import t from 'tap';
import { QueryParams } from '../../src/http/query.js';

// QueryParams must read exactly what URLSearchParams reads (it replaced it on the request path).
const CASES = [
  '', '?', 'a', 'a=', '=b', 'a=1&a=2&b=3', '&&a=1&&', '?channel=a', 'a=1&', 'a==b',
  'channel=x%3Ay&channel=z+w', 'a=%zz&b=%E2%82%AC', 'x=%', 'k%20y=v', 'channel=%F0%9F', 'a%3Db=c%3Dd', 'x=%E2%82', '%=1', 'a+b=c+%2B', 'cursor=1:2&channel=pub:a&token=x.y.z',
];

t.test('get and getAll agree with URLSearchParams', async (t) => {
  for (const query of CASES) {
    const expected = new URLSearchParams(query);
    const actual = new QueryParams(query);
    for (const name of new Set([...expected.keys(), 'a', 'b', 'channel', 'x', 'k y', '', 'missing'])) {
      t.same(actual.getAll(name), expected.getAll(name), `${JSON.stringify(query)} getAll(${name})`);
      t.equal(actual.get(name), expected.get(name), `${JSON.stringify(query)} get(${name})`);
    }
  }
});
