--[[
  Grab a hold on one share of a packet, after the request's rate limits (one round trip for a grab).
  KEYS[1] rp:{id}:gate   KEYS[2] rp:{id}:holders   KEYS[3] rp:{id}:claimed   KEYS[4] rp:{id}:audience
  KEYS[5] rp:{id}:rl, the packet's rate-limit counter (counted only when its points are given; see
    includes/limits.lua). Every key is in the packet's slot: on a Redis Cluster the IP and user counters are
    counted before this call, each by consumeLimit.lua (api/rateLimits.ts). On one Redis the script is also
    called as <name>AnyKeys with those two counters as KEYS[5] and KEYS[6] and the packet's as KEYS[7], each
    with its points in ARGV, so a request is one round trip.
  ARGV[1] userId   ARGV[2] holdMs   ARGV[3] expiryGraceMs   ARGV[4] limit windowMs   ARGV[5] the packet counter's
  points (ARGV[4] and ARGV[5] absent: not counted)
  Returns: {status, holdExpiresAtMs, remaining}
    status 1 granted, 2 already holding (same hold returned), -1 already claimed, -2 exhausted,
    -3 not armed (gate missing: unknown packet or Redis lost it), -4 expired, -5 not allowed,
    -6 rate limited: {-6, waitMs, index of the refusing counter (1-based)}; the gate was not touched.

  Time is Redis' own clock, one for every API host, not the caller's. Postgres' clock decides expiry in the
  open statement, so the gate only refuses as expired once the grace has passed too.
]]
--@include limits
local limited, waitMs = consume_limits(5, 4)
if limited > 0 then
  return {-6, waitMs, limited}
end

local userId = ARGV[1]
local holdMs = tonumber(ARGV[2])
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local gate = redis.call('HMGET', KEYS[1], 'remaining', 'expiresAtMs', 'restricted')
-- A gate missing any field (a partial one, say {remaining} alone) is answered as not armed, so the caller
-- re-arms it from Postgres instead of this script failing on it at every grab.
if not (gate[1] and gate[2] and gate[3]) then
  return {-3, 0, 0}
end
-- Membership first: a stranger learns nothing, not even that the packet expired.
if gate[3] == '1' and redis.call('SISMEMBER', KEYS[4], userId) == 0 then
  return {-5, 0, 0}
end
if nowMs >= tonumber(gate[2]) + tonumber(ARGV[3]) then
  return {-4, 0, 0}
end
if redis.call('SISMEMBER', KEYS[3], userId) == 1 then
  return {-1, 0, 0}
end

-- Holds that lapsed without an open return their share to the pool (bounded work per call).
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', nowMs, 'LIMIT', 0, 100)
if #lapsed > 0 then
  redis.call('ZREM', KEYS[2], unpack(lapsed))
  redis.call('HINCRBY', KEYS[1], 'remaining', #lapsed)
end

local held = redis.call('ZSCORE', KEYS[2], userId)
local remaining = tonumber(redis.call('HGET', KEYS[1], 'remaining'))
if held then
  return {2, tonumber(held), remaining}
end
if remaining <= 0 then
  return {-2, 0, 0}
end
local holdExpiresAtMs = nowMs + holdMs
redis.call('HINCRBY', KEYS[1], 'remaining', -1)
redis.call('ZADD', KEYS[2], holdExpiresAtMs, userId)
-- Holders die with the gate, so nothing of a packet outlives it in Redis.
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return {1, holdExpiresAtMs, remaining - 1}
