import t from 'tap';
import { AddressAllowList } from '../../src/net/address-allow.js';

// metrics.allow: the default lets loopback and private networks scrape, not the internet.

t.test('default [loopback, private]', async (t) => {
  const allow = new AddressAllowList(['loopback', 'private']);
  for (const ip of ['127.0.0.1', '127.3.2.1', '::1', '10.2.3.4', '172.16.0.9', '172.31.255.1', '192.168.1.20', 'fd00::5', 'fe80::1',
    '0000:0000:0000:0000:0000:0000:0000:0001', '0000:0000:0000:0000:0000:ffff:0a00:0005', '::ffff:192.168.0.3']) {
    t.ok(allow.allows(ip), `${ip} may scrape`);
  }
  for (const ip of ['203.0.113.7', '8.8.8.8', '172.32.0.1', '2001:db8::1', '0000:0000:0000:0000:0000:ffff:cb00:7107', '', 'nonsense']) {
    t.notOk(allow.allows(ip), `${ip} may not`);
  }
});

t.test('explicit IPs, CIDRs and *', async (t) => {
  const allow = new AddressAllowList(['203.0.113.7', '198.51.100.0/24', '2001:db8::/32']);
  t.ok(allow.allows('203.0.113.7'));
  t.ok(allow.allows('198.51.100.200'));
  t.ok(allow.allows('2001:db8::42'));
  t.notOk(allow.allows('127.0.0.1'), 'loopback only when listed');
  t.ok(new AddressAllowList(['*']).allows('8.8.8.8'), '* is anyone');
  t.notOk(new AddressAllowList([]).allows('127.0.0.1'), 'an empty list allows nobody');
});
