--[[
  Before an open: does this user hold a live share, or has the user opened already?
  The request's rate limits are checked first, in the same call.
  KEYS[1] rp:{id}:gate   KEYS[2] rp:{id}:holders   KEYS[3] rp:{id}:claimed   KEYS[4] rp:{id}:audience
  KEYS[5] rp:{id}:rl, the packet's rate-limit counter (counted only when its points are given; see
    includes/limits.lua). Every key is in the packet's slot: on a Redis Cluster the IP and user counters are
    counted before this call, each by consumeLimit.lua (api/rateLimits.ts). On one Redis the script is also
    called as <name>AnyKeys with those two counters as KEYS[5] and KEYS[6] and the packet's as KEYS[7], each
    with its points in ARGV, so a request is one round trip.
  ARGV[1] userId   ARGV[2] expiryGraceMs   ARGV[3] limit windowMs   ARGV[4] the packet counter's
  points (ARGV[3] and ARGV[4] absent: not counted)
  Returns: {status, waitMs, index}: status 1 live hold, 2 already claimed (the open returns the same
    claim), -1 no live hold, -2 exhausted (no hold, and no share a grab could get), -3 not armed (gate
    missing), -4 expired, -5 not allowed (answered like an unknown packet), -6 rate limited (then waitMs and
    the 1-based index of the refusing counter; otherwise both 0). The refusals are ordered as grabShare
    orders them.

  Time is Redis' own clock, one for every API host. Postgres' clock decides expiry in the open statement, so
  the gate only calls a packet expired once the grace has passed too.
]]
--@include limits
local limited, waitMs = consume_limits(5, 3)
if limited > 0 then
  return {-6, waitMs, limited}
end

local gate = redis.call('HMGET', KEYS[1], 'expiresAtMs', 'restricted', 'remaining')
if not (gate[1] and gate[2] and gate[3]) then
  return {-3, 0, 0}
end
local userId = ARGV[1]
if redis.call('SISMEMBER', KEYS[3], userId) == 1 then
  return {2, 0, 0}
end
if gate[2] == '1' and redis.call('SISMEMBER', KEYS[4], userId) == 0 then
  return {-5, 0, 0}
end
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if nowMs >= tonumber(gate[1]) + tonumber(ARGV[2]) then
  return {-4, 0, 0}
end
local held = redis.call('ZSCORE', KEYS[2], userId)
if held and tonumber(held) > nowMs then
  return {1, 0, 0}
end
-- Lapsed holds go back to the pool at the next grab, so they still count as shares on offer.
if tonumber(gate[3]) + redis.call('ZCOUNT', KEYS[2], '-inf', nowMs) <= 0 then
  return {-2, 0, 0}
end
return {-1, 0, 0}
