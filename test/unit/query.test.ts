import t from 'tap';
import { QueryParams } from '../../src/http/query.js';

// QueryParams must read exactly what URLSearchParams reads (it replaced it on the request path).
const CASES = [
  '', '?', 'a', 'a=', '=b', 'a=1&a=2&b=3', '&&a=1&&', '?channel=a', 'a=1&', 'a==b',
  'channel=x%3Ay&channel=z+w', 'a=%3a%3A%7e%7F%80', 'a=%41&b=x%41y%42', 'a=%3A%E2%82%AC%3A', 'a=%00%20%25', 'a=%2', 'a=%3Ax%', 'a=%zz&b=%E2%82%AC', 'x=%', 'k%20y=v', 'channel=%F0%9F', 'a%3Db=c%3Dd', 'x=%E2%82', '%=1', 'a+b=c+%2B', 'cursor=1:2&channel=pub:a&token=x.y.z', 'channel=bench%3A1&cursor=ab.c%3A&x=%zz&cursor=2', 'a=b%zz&a%zz=c&a=+',
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

t.test('random queries built from escapes, separators and non-ASCII agree with URLSearchParams', async (t) => {
  const pieces = ['%', '%3A', '%3a', '%7F', '%80', '%E2%82%AC', '%C3', '%zz', '%4', '+', '=', '&', 'a', 'b', 'é', '2', 'F'];
  let state = 5;
  const pick = (): string => pieces[(state = (state * 1103515245 + 12345) % 2147483648) % pieces.length]!;
  for (let i = 0; i < 3000; i++) {
    let query = '';
    for (let k = 1 + (i % 9); k > 0; k--) query += pick();
    const expected = new URLSearchParams(query);
    const actual = new QueryParams(query);
    for (const name of new Set([...expected.keys(), 'a'])) {
      if (JSON.stringify(actual.getAll(name)) !== JSON.stringify(expected.getAll(name)) || actual.get(name) !== expected.get(name)) {
        t.fail(`${JSON.stringify(query)} getAll(${JSON.stringify(name)}): ${JSON.stringify(actual.getAll(name))} ≠ ${JSON.stringify(expected.getAll(name))}`);
        return;
      }
    }
  }
  t.pass('3,000 random queries read alike');
});
