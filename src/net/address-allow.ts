import { BlockList, isIP } from 'node:net';

/**
 * Who may read an endpoint such as /metrics, from the configured words and addresses:
 * `loopback`, `private` (RFC 1918, IPv6 unique-local and link-local: the networks a
 * Prometheus next to Herald scrapes from), `*` (anyone), an IP, or a CIDR (`10.1.0.0/16`).
 * Built once per config; `allows` is called per scrape.
 */
export class AddressAllowList {
  private readonly any: boolean;
  private readonly list = new BlockList();

  constructor(entries: readonly string[]) {
    this.any = entries.includes('*');
    for (const entry of entries) {
      if (entry === 'loopback') {
        this.list.addSubnet('127.0.0.0', 8, 'ipv4');
        this.list.addAddress('::1', 'ipv6');
      } else if (entry === 'private') {
        for (const [net, bits] of PRIVATE_V4) this.list.addSubnet(net, bits, 'ipv4');
        for (const [net, bits] of PRIVATE_V6) this.list.addSubnet(net, bits, 'ipv6');
      } else if (entry !== '*') {
        const parsed = parseAllowEntry(entry);
        if (parsed === null) continue; // rejected at load time (allowEntryProblem)
        if (parsed.bits === null) this.list.addAddress(parsed.address, parsed.family);
        else this.list.addSubnet(parsed.address, parsed.bits, parsed.family);
      }
    }
  }

  allows(ip: string): boolean {
    if (this.any) return true;
    const v4 = mappedIpv4(ip);
    if (v4 !== null) return this.list.check(v4, 'ipv4');
    const family = isIP(ip);
    if (family === 0) return false;
    return this.list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
  }
}

const PRIVATE_V4: readonly (readonly [string, number])[] = [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['169.254.0.0', 16]];
const PRIVATE_V6: readonly (readonly [string, number])[] = [['fc00::', 7], ['fe80::', 10]];

/** `::ffff:a.b.c.d` or uWS's long form `0000:…:ffff:0a00:0001` → `a.b.c.d`; else null. */
function mappedIpv4(ip: string): string | null {
  if (isIP(ip) === 4) return ip;
  const short = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (short !== null) return short[1]!;
  const long = /^(?:0{1,4}:){5}ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (long === null) return null;
  const hi = parseInt(long[1]!, 16);
  const lo = parseInt(long[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

function parseAllowEntry(entry: string): { address: string; bits: number | null; family: 'ipv4' | 'ipv6' } | null {
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return null;
  if (slash < 0) return { address, bits: null, family: family === 4 ? 'ipv4' : 'ipv6' };
  const bits = Number(entry.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) return null;
  return { address, bits, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/** A load-time message for an entry that is none of the accepted forms, or null. */
export function allowEntryProblem(entry: string): string | null {
  if (entry === 'loopback' || entry === 'private' || entry === '*' || parseAllowEntry(entry) !== null) return null;
  return `\`${entry}\` is not \`loopback\`, \`private\`, \`*\`, an IP address or a CIDR`;
}
