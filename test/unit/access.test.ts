import t from 'tap';
import type { AccessRule, PublishKeyConfig, RuleConfig } from '../../src/config/types.js';
import { checkAccess, globMatch, publishAllowed, ruleAcceptsPublish, type AccessRoute } from '../../src/auth/access.js';
import { explainAccess } from '../../src/auth/explain.js';
import { TokenVerifier } from '../../src/auth/jwt.js';
import { Router } from '../../src/rules/router.js';
import { NOW_MS, NOW_S, TEST_SECRET, hsToken, jwtConfig } from '../helpers/tokens.js';

const PUBLIC: AccessRule = { kind: 'public' };

function tokenRule(options: Partial<Extract<AccessRule, { kind: 'token' }>> = {}): AccessRule {
  return { kind: 'token', subParam: null, claimContains: null, channelsClaim: false, ...options };
}

function rule(pattern: string, access: AccessRule, publishScopes: string[] = []): RuleConfig {
  return {
    pattern,
    redis: pattern,
    payload: 'text',
    history: { size: 0, maxAgeMs: 0, store: 'memory' },
    lingerMs: 0, batchDelayMs: 0,
    access,
    publishScopes,
  };
}

function route(channel: string, r: RuleConfig, params: Record<string, string> = {}): AccessRoute {
  return { channel, rule: r, params };
}

const codeOf = (error: { code: string } | null): string => (error === null ? 'allowed' : error.code);

t.test('public channels admit anyone', async (t) => {
  const r = route('news', rule('news', PUBLIC));
  t.equal(checkAccess(r, null), null);
  t.equal(checkAccess(r, { sub: 'x' }), null);
});

t.test('a token rule without a token is token_missing', async (t) => {
  t.equal(codeOf(checkAccess(route('members', rule('members', tokenRule())), null)), 'token_missing');
  t.equal(codeOf(checkAccess(route('members', rule('members', tokenRule())), { sub: 'any' })), 'allowed', 'no conditions: any valid token');
});

t.test('sub must equal {userId}', async (t) => {
  const r = rule('user:{userId}', tokenRule({ subParam: 'userId' }));
  t.equal(codeOf(checkAccess(route('user:42', r, { userId: '42' }), { sub: '42' })), 'allowed', 'own channel');
  const other = checkAccess(route('user:43', r, { userId: '43' }), { sub: '42' });
  t.equal(codeOf(other), 'token_forbidden', "another user's channel");
  t.match(other?.message, /sub does not equal \{userId\}/);
  t.equal(codeOf(checkAccess(route('user:42', r, { userId: '42' }), {})), 'token_forbidden', 'no sub claim');
});

t.test('a claim array must contain {forum}', async (t) => {
  const r = rule('forum:{forum}', tokenRule({ claimContains: { claim: 'forums', param: 'forum' } }));
  const at = (forum: string) => route(`forum:${forum}`, r, { forum });
  t.equal(codeOf(checkAccess(at('rust'), { forums: ['go', 'rust'] })), 'allowed');
  t.equal(codeOf(checkAccess(at('12'), { forums: [12, 15] })), 'allowed', 'numeric ids match');
  t.equal(codeOf(checkAccess(at('zig'), { forums: ['go', 'rust'] })), 'token_forbidden');
  t.equal(codeOf(checkAccess(at('rust'), { forums: 'rust' })), 'token_forbidden', 'not an array');
  t.equal(codeOf(checkAccess(at('rust'), {})), 'token_forbidden', 'claim missing');
});

t.test('the channels claim lists the channel, exactly or by glob', async (t) => {
  const r = rule('room:{id}', tokenRule({ channelsClaim: true }));
  const at = (id: string) => route(`room:${id}`, r, { id });
  t.equal(codeOf(checkAccess(at('a'), { channels: ['room:a'] })), 'allowed', 'exact');
  t.equal(codeOf(checkAccess(at('b'), { channels: ['room:a'] })), 'token_forbidden', 'exact, other');
  t.equal(codeOf(checkAccess(at('b'), { channels: ['news', 'room:*'] })), 'allowed', 'glob');
  t.equal(codeOf(checkAccess(at('b'), { channels: ['chat:*'] })), 'token_forbidden', 'glob, other');
  t.equal(codeOf(checkAccess(at('b'), {})), 'token_forbidden', 'no channels claim');
});

t.test('all conditions must pass', async (t) => {
  const r = rule('user:{userId}', tokenRule({ subParam: 'userId', channelsClaim: true }));
  const at = route('user:1', r, { userId: '1' });
  t.equal(codeOf(checkAccess(at, { sub: '1', channels: ['user:*'] })), 'allowed');
  t.equal(codeOf(checkAccess(at, { sub: '1', channels: [] })), 'token_forbidden');
  t.equal(codeOf(checkAccess(at, { sub: '2', channels: ['user:*'] })), 'token_forbidden');
});

t.test('globMatch', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['news', 'news', true],
    ['news', 'news2', false],
    ['*', 'anything:at:all', true],
    ['*', '', true],
    ['room:*', 'room:', true],
    ['room:*', 'room:a:b', true],
    ['room:*', 'rooms:a', false],
    ['*:admin', 'team:x:admin', true],
    ['*:admin', 'admin', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'a-b-b-c', true],
    ['a*b*c', 'acb', false],
    ['a*a', 'a', false],
    ['**', 'x', true],
    ['room.*', 'roomx1', false],
  ];
  for (const [glob, channel, expected] of cases) t.equal(globMatch(glob, channel), expected, `${glob} ~ ${channel}`);
});

t.test('publish keys and scopes', async (t) => {
  const keys: PublishKeyConfig[] = [
    { key: 'k-chat', scopes: ['chat:*'] },
    { key: 'k-admin', scopes: ['*', 'admin'] },
  ];
  const chat = route('chat:1', rule('chat:{id}', PUBLIC), { id: '1' });
  const alerts = route('alerts:ops', rule('alerts:{n}', PUBLIC, ['alerts:ops*']), { n: 'ops' });
  const alertsDev = route('alerts:dev', rule('alerts:{n}', PUBLIC, ['alerts:ops*']), { n: 'dev' });
  t.equal(codeOf(publishAllowed(keys, 'k-chat', chat)), 'allowed');
  t.equal(codeOf(publishAllowed(keys, '', chat)), 'publish_unauthorized', 'no key');
  t.equal(codeOf(publishAllowed(keys, 'k-cha', chat)), 'publish_unauthorized', 'unknown key');
  t.equal(codeOf(publishAllowed([], 'k-chat', chat)), 'publish_unauthorized', 'no keys configured');
  t.equal(codeOf(publishAllowed(keys, 'k-chat', alerts)), 'publish_forbidden', 'channel outside the key scopes');
  t.equal(codeOf(publishAllowed(keys, 'k-admin', alerts)), 'allowed', 'a `*` key on a channel the rule\'s publish list includes');
  t.equal(codeOf(publishAllowed(keys, 'k-admin', alertsDev)), 'publish_forbidden', 'the rule\'s publish list narrows its channels');
  t.equal(codeOf(ruleAcceptsPublish(alertsDev)), 'publish_forbidden', 'narrowing applies to loopback callers too');
  t.equal(codeOf(ruleAcceptsPublish(chat)), 'allowed', 'no publish list: every channel of the rule');
  const wideChat = [{ key: 'k-wide', scopes: ['*'] }];
  t.equal(codeOf(publishAllowed(wideChat, 'k-wide', alerts)), 'allowed', 'scope `*` covers the channel');
  t.equal(codeOf(publishAllowed(wideChat, 'k-wide', chat)), 'allowed');
});

t.test('explainAccess tells the matched pattern and the failing condition', async (t) => {
  const router = new Router(
    [
      rule('news', PUBLIC),
      rule('user:{userId}', tokenRule({ subParam: 'userId' })),
      rule('forum:{forum}', tokenRule({ claimContains: { claim: 'forums', param: 'forum' } })),
    ],
    200,
  );
  const verifier = await TokenVerifier.create(jwtConfig({ secret: TEST_SECRET, algorithms: ['HS256'] }));
  const token = await hsToken({ sub: '42', forums: ['rust'] });

  const own = await explainAccess(router, verifier, 'user:42', token, NOW_MS);
  t.equal(own.allowed, true);
  t.match(own.lines.join('\n'), /rule: user:\{userId\}[\s\S]*params: userId=42[\s\S]*condition sub == \{userId\}: passed[\s\S]*allowed/);
  t.notMatch(own.lines.join('\n'), token, 'token never printed');

  const other = await explainAccess(router, verifier, 'user:7', token, NOW_MS);
  t.equal(other.allowed, false);
  t.match(other.lines.join('\n'), /rule: user:\{userId\}[\s\S]*condition sub == \{userId\}: FAILED \(sub does not equal \{userId\}\)[\s\S]*denied: token_forbidden/);

  const forum = await explainAccess(router, verifier, 'forum:zig', token, NOW_MS);
  t.match(forum.lines.join('\n'), /condition forums contains \{forum\}: FAILED/);

  const none = await explainAccess(router, verifier, 'user:42', '', NOW_MS);
  t.match(none.lines.join('\n'), /token: none given[\s\S]*denied: token_missing/);

  const expired = await explainAccess(router, verifier, 'user:42', await hsToken({ sub: '42' }, NOW_S - 1), NOW_MS);
  t.equal(expired.allowed, false);
  t.match(expired.lines.join('\n'), /token: refused \(token_expired[\s\S]*denied: token_expired/);

  const news = await explainAccess(router, verifier, 'news', '', NOW_MS);
  t.equal(news.allowed, true);
  t.match(news.lines.join('\n'), /rule: news \(public\)/);

  const unmatched = await explainAccess(router, verifier, 'other', token, NOW_MS);
  t.equal(unmatched.allowed, false);
  t.match(unmatched.lines.join('\n'), /rule: none matches \(default deny\)[\s\S]*denied: channel_denied/);

  const invalid = await explainAccess(router, verifier, 'bad channel!', token, NOW_MS);
  t.match(invalid.lines.join('\n'), /denied: channel_invalid/);
});
