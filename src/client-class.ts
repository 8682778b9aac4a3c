import type { ClassesConfig, ClientClassConfig } from './config/types.js';

/**
 * Picks the client class of a request: an explicit `?client=<name>` wins, then the first
 * class whose User-Agent pattern matches, then the default. Patterns are compiled once.
 */
export class ClientClassifier {
  private readonly byName = new Map<string, ClientClassConfig>();
  private readonly patterns: { readonly re: RegExp; readonly cls: ClientClassConfig }[] = [];
  private readonly fallback: ClientClassConfig;

  constructor(readonly config: ClassesConfig) {
    for (const cls of config.list) {
      this.byName.set(cls.name, cls);
      if (cls.userAgent !== '') this.patterns.push({ re: new RegExp(cls.userAgent, 'i'), cls });
    }
    const fallback = this.byName.get(config.defaultClass) ?? config.list[0];
    if (fallback === undefined) throw new Error('classes.list must name at least one class');
    this.fallback = fallback;
  }

  get param(): string {
    return this.config.param;
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  classify(explicit: string, userAgent: string): ClientClassConfig {
    if (explicit !== '') {
      const named = this.byName.get(explicit);
      if (named !== undefined) return named;
    }
    if (userAgent !== '') {
      for (const p of this.patterns) if (p.re.test(userAgent)) return p.cls;
    }
    return this.fallback;
  }
}
