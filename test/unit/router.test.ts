import t from 'tap';
import type { RuleConfig } from '../../src/config/types.js';
import { HeraldError } from '../../src/errors.js';
import { compilePattern, isValidChannelName, templateParams } from '../../src/rules/pattern.js';
import { Router, type Route } from '../../src/rules/router.js';

function rule(pattern: string, redis = pattern, payload: 'text' | 'json' = 'text'): RuleConfig {
  return { pattern, redis, payload, history: { size: 10, maxAgeMs: 60_000, store: 'memory' }, lingerMs: 0, batchDelayMs: 0, access: { kind: 'public' }, publishScopes: [] };
}

function routed(result: Route | HeraldError): Route {
  if (result instanceof HeraldError) throw new Error(`unexpected ${result.code}`);
  return result;
}

function code(result: Route | HeraldError): string {
  return result instanceof HeraldError ? result.code : 'routed';
}

t.test('a parameter matches exactly one segment', async (t) => {
  const p = compilePattern('thread:{id}');
  t.same(p.params, ['id']);
  t.same(p.match('thread:42'), { id: '42' });
  t.same(p.match('thread:a.b@c=d+e-f_g'), { id: 'a.b@c=d+e-f_g' });
  t.equal(p.match('thread:1:2'), null, 'never spans :');
  t.equal(p.match('thread:'), null, 'never empty');
  t.equal(p.match('xthread:1'), null, 'anchored at the start');
  t.equal(p.match('Thread:1'), null, 'case-sensitive');
  const two = compilePattern('forum:{forum}:thread:{id}');
  t.same(two.match('forum:js:thread:7'), { forum: 'js', id: '7' });
  t.equal(two.match('forum:js:x:thread:7'), null);
  t.same(compilePattern('user-{id}.feed').match('user-9.feed'), { id: '9' }, 'literal text around a parameter');
  t.same(compilePattern('a.b').match('a.b'), {}, 'dots are literal');
  t.equal(compilePattern('a.b').match('axb'), null);
  t.same(compilePattern('p:{__proto__}').match('p:x'), { ['__proto__']: 'x' }, 'parameter names stay data');
});

t.test('templates render', async (t) => {
  const p = compilePattern('user:{userId}');
  const params = p.match('user:u1');
  if (params === null) throw new Error('no match');
  t.equal(p.render('app:user:{userId}', params), 'app:user:u1');
  t.equal(p.render('{userId}/inbox {userId}', params), 'u1/inbox u1', 'any literal text, repeated params');
  t.equal(p.render('static', params), 'static');
  t.throws(() => p.render('x:{other}', params), /needs parameter `other`/);
  t.same(templateParams('a:{x}:{y}'), ['x', 'y']);
  t.throws(() => templateParams('a:{x'), /unclosed/);
  t.throws(() => templateParams('a}'), /without/);
});

t.test('bad patterns throw a clear message', async (t) => {
  const cases: [string, RegExp][] = [
    ['', /must not be empty/],
    ['a:{x', /unclosed `\{`/],
    ['a:x}', /`\}` without `\{`/],
    ['a:{}', /invalid parameter name/],
    ['a:{1x}', /invalid parameter name/],
    ['a:{x}{y}', /adjacent parameters/],
    ['a:{x}:{x}', /uses `\{x\}` twice/],
    ['a b:{x}', /characters outside/],
    ['a/*', /characters outside/],
  ];
  for (const [source, message] of cases) t.throws(() => compilePattern(source), message, JSON.stringify(source));
});

t.test('channel names: charset and length', async (t) => {
  t.ok(isValidChannelName('public:room-1', 200));
  t.ok(isValidChannelName('a:b.c@d=e+f_g', 200));
  t.ok(isValidChannelName('x'.repeat(5), 5));
  t.notOk(isValidChannelName('x'.repeat(6), 5), 'too long');
  t.notOk(isValidChannelName('', 5), 'empty');
  for (const bad of ['a b', 'a/b', 'a*', 'a?', 'é', 'a\nb', 'a{b}', 'a\u0000']) t.notOk(isValidChannelName(bad, 200), JSON.stringify(bad));
});

t.test('router: first match wins, default deny, invalid names', async (t) => {
  const router = new Router([
    rule('room:lobby', 'app:lobby'),
    rule('room:{name}', 'app:room:{name}', 'json'),
    rule('user:{userId}', 'app:u:{userId}'),
  ], 20);
  t.equal(router.rules.length, 3);

  const lobby = routed(router.route('room:lobby'));
  t.equal(lobby.redisChannel, 'app:lobby', 'the earlier, more specific rule wins');
  t.equal(lobby.rule.pattern, 'room:lobby');

  const room = routed(router.route('room:42'));
  t.same([room.channel, room.redisChannel, room.rule.payload, room.params], ['room:42', 'app:room:42', 'json', { name: '42' }]);
  t.equal(routed(router.route('user:ann')).redisChannel, 'app:u:ann');

  t.equal(code(router.route('room:1:2')), 'channel_denied', 'a parameter does not span :');
  t.equal(code(router.route('other:1')), 'channel_denied', 'no rule: denied');
  t.equal(code(new Router([], 20).route('room:1')), 'channel_denied', 'no rules at all: everything denied');

  const tooLong = router.route('room:' + 'x'.repeat(16));
  t.equal(code(tooLong), 'channel_invalid');
  t.match((tooLong as HeraldError).message, /length must be 1 to 20/);
  const badChars = router.route('room:a b');
  t.equal(code(badChars), 'channel_invalid');
  t.match((badChars as HeraldError).message, /allowed characters/);
  t.equal(code(router.route('')), 'channel_invalid');
  t.equal((badChars as HeraldError).status, 400);
  t.equal((router.route('other:1') as HeraldError).status, 403);
});

t.test('router: a later broader rule does not shadow an earlier one', async (t) => {
  const router = new Router([rule('{any}'), rule('a:{x}', 'never:{x}')], 50);
  t.equal(routed(router.route('solo')).redisChannel, 'solo');
  t.equal(routed(router.route('a:1')).redisChannel, 'never:1', '{any} cannot match across :');
});

t.test('router: an invalid rule is a programming error', async (t) => {
  t.throws(() => new Router([rule('a:{x')], 50), /unclosed/);
});
