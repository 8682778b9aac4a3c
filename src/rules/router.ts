import type { RuleConfig } from './rule.js';
import { HeraldError } from '../errors.js';
import { CHANNEL_CHARSET_DOC, compilePattern, isValidChannelName, type CompiledPattern } from './pattern.js';

/** The result of matching a client channel against the configured rules. */
export interface Route {
  /** Client-facing name, as requested. */
  readonly channel: string;
  /** Name on the broker, rendered from the rule's `redis` template. */
  readonly redisChannel: string;
  /**
   * `<redisChannel> <channel>`: the mapping's one key, for the hub's channel state, history
   * and the WebSocket topic (channel names have no spaces: two mappings cannot collide).
   * Built once per Route (the router caches Routes), not once per connect.
   */
  readonly key: string;
  readonly rule: RuleConfig;
  readonly params: Readonly<Record<string, string>>;
  /**
   * The list of this one route (non-enumerable: a Route still reads as its five fields): what
   * a request naming one channel subscribes with, shared instead of an array per request. A
   * held poll keeps its list for its whole hold, and each one kept survived a scavenge.
   */
  readonly alone: readonly Route[];
}

/** A Route with its key; the router makes every Route through here (tests too). */
export function makeRoute(channel: string, redisChannel: string, rule: RuleConfig, params: Readonly<Record<string, string>> = {}): Route {
  const route = { channel, redisChannel, key: redisChannel + ' ' + channel, rule, params } as { -readonly [K in keyof Route]: Route[K] };
  // Not frozen: a frozen array has its own elements kind, which TurboFan does not inline
  // iteration builtins for (every() and for-of over it ran in the generic builtin, ~0.3 µs
  // of a poll cycle). Non-enumerable: it refers back to the route (logs, deep equality).
  Object.defineProperty(route, 'alone', { value: [route], enumerable: false });
  return route;
}

const ROUTE_CACHE_MAX = 10_000;

interface CompiledRule {
  readonly rule: RuleConfig;
  readonly pattern: CompiledPattern;
}

/**
 * Client channel → Route, or a HeraldError. Rules are tried in order and the first match
 * wins; a channel no rule matches is denied (default deny). Access checks (tokens) are the
 * caller's job: the route carries the rule and its parameters for them.
 *
 * The rules come from validated config, so a pattern that does not compile here is a
 * programming error and throws from the constructor.
 */
export class Router {
  readonly rules: readonly RuleConfig[];
  readonly #compiled: readonly CompiledRule[];
  readonly #maxChannelLength: number;

  constructor(rules: readonly RuleConfig[], maxChannelLength: number) {
    this.rules = rules;
    this.#maxChannelLength = maxChannelLength;
    this.#compiled = rules.map((rule) => ({ rule, pattern: compilePattern(rule.pattern) }));
  }

  /**
   * Routes are immutable, so 10k subscribers of one channel share one Route (and its
   * strings) instead of holding 10k copies. Bounded: client input picks the keys, so the
   * cache is dropped whole when full rather than growing.
   */
  readonly #cache = new Map<string, Route | HeraldError>();

  route(channel: string): Route | HeraldError {
    const cached = this.#cache.get(channel);
    if (cached !== undefined) return cached;
    const result = this.#resolve(channel);
    if (channel.length > this.#maxChannelLength) return result; // never keep oversized input
    if (this.#cache.size >= ROUTE_CACHE_MAX) this.#cache.clear();
    this.#cache.set(channel, result);
    return result;
  }

  #resolve(channel: string): Route | HeraldError {
    if (!isValidChannelName(channel, this.#maxChannelLength)) {
      const why =
        channel.length === 0 || channel.length > this.#maxChannelLength
          ? `length must be 1 to ${this.#maxChannelLength} characters`
          : `allowed characters are ${CHANNEL_CHARSET_DOC}`;
      return new HeraldError('channel_invalid', why);
    }
    for (const { rule, pattern } of this.#compiled) {
      const params = pattern.match(channel);
      if (params === null) continue;
      return makeRoute(channel, pattern.render(rule.redis, params), rule, params);
    }
    return new HeraldError('channel_denied');
  }
}
