/**
 * The Redis Function library apps publish durable messages with (Redis ≥ 7.0):
 *
 *   FCALL herald_publish 1 <channel> <payload>  →  [<stream id>, <receivers>]
 *
 * One atomic call appends the payload to the channel's Redis Stream, trims it by count and age,
 * and PUBLISHes a notification on the channel itself that carries the stream id, so every
 * Herald process names the message alike and can heal a gap by XRANGE from the last id it saw.
 *
 *   herald:{<channel>}:stream   XADD entries, one field `p` = payload
 *   herald:{<channel>}:meta     size, maxAgeMs (written by Herald from the rule), epoch (random
 *                               per stream life: a stream lost with an unpersisted Redis gets a
 *                               new one, so old positions reset), born (ms), trimmed (the newest
 *                               id trimmed away: a position before it is `evicted`)
 *   notification on <channel>   "\x1eherald1 <epoch> <stream id>\n<payload>"
 *
 * Both keys carry the channel as a hash tag so they live in the channel's slot in a cluster
 * (the declared key is the channel name itself, which hashes to that slot when the name has no
 * braces). Bump VERSION whenever the code changes: Herald loads the library at start-up when it
 * is missing or older (history/redis-stream.ts).
 */
export const FUNCTIONS_VERSION = 1;

export const FUNCTIONS_LIBRARY = `#!lua name=herald
local VERSION = ${FUNCTIONS_VERSION}

local function keys_of(channel)
  return 'herald:{' .. channel .. '}:stream', 'herald:{' .. channel .. '}:meta'
end

local function ms_of(id)
  return tonumber(string.match(id, '^(%d+)'))
end

local function publish(keys, args)
  local channel = keys[1]
  local payload = args[1]
  if channel == nil or payload == nil then
    return redis.error_reply('ERR usage: FCALL herald_publish 1 <channel> <payload>')
  end
  local skey, mkey = keys_of(channel)
  local size = tonumber(args[2]) or tonumber(redis.call('HGET', mkey, 'size')) or 1000
  local maxage = tonumber(args[3]) or tonumber(redis.call('HGET', mkey, 'maxAgeMs')) or 0
  if size < 1 then size = 1 end
  local epoch = redis.call('HGET', mkey, 'epoch')
  local id = redis.call('XADD', skey, '*', 'p', payload)
  if not epoch then
    local t = redis.call('TIME')
    epoch = string.format('%06x', (tonumber(t[1]) * 1000003 + tonumber(t[2])) % 16777216)
    redis.call('HSET', mkey, 'epoch', epoch, 'born', ms_of(id))
  end
  local len = redis.call('XLEN', skey)
  if len > size then
    local gone = redis.call('XRANGE', skey, '-', '+', 'COUNT', len - size)
    redis.call('HSET', mkey, 'trimmed', gone[#gone][1])
    redis.call('XTRIM', skey, 'MAXLEN', size)
  end
  if maxage > 0 then
    local minid = tostring(ms_of(id) - maxage)
    local old = redis.call('XREVRANGE', skey, '(' .. minid, '-', 'COUNT', 1)
    if #old > 0 then
      redis.call('HSET', mkey, 'trimmed', old[1][1])
      redis.call('XTRIM', skey, 'MINID', minid)
    end
  end
  local receivers = redis.call('PUBLISH', channel, '\\30herald1 ' .. epoch .. ' ' .. id .. '\\n' .. payload)
  return { id, receivers }
end

local function read(keys, args)
  local skey, mkey = keys_of(keys[1])
  local meta = redis.call('HMGET', mkey, 'epoch', 'trimmed', 'born')
  local entries = redis.call('XRANGE', skey, args[1], '+', 'COUNT', tonumber(args[2]))
  return { meta[1] or '', meta[2] or '0-0', meta[3] or '0', entries }
end

redis.register_function{ function_name = 'herald_publish', callback = publish }
redis.register_function{ function_name = 'herald_read', callback = read, flags = { 'no-writes' } }
redis.register_function{ function_name = 'herald_version', callback = function() return VERSION end, flags = { 'no-writes' } }
`;
