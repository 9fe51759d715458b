--[[
  Take one point from one rate-limit counter (a request's IP or user counter, or a route's own). One key per
  call, so the call goes to the counter's own Redis Cluster node; a request's counters live in different
  slots and are counted one call each, in order (api/rateLimits.ts).
  KEYS[1] the counter (see api/rateLimits.ts for the keys)
  ARGV[1] windowMs   ARGV[2] the counter's points
  Returns: {0, 0} allowed, or {1, waitMs}: refused, and ms until its window ends
]]
--@include limits
local refused, waitMs = consume_limits(1, 1)
return {refused, waitMs}
