--[[
  Take one point from each of a request's rate-limit counters (IP, user, and the route's own), in one call.
  KEYS[1..n] the counters (see api/rateLimits.ts for their keys)
  ARGV[1] windowMs   ARGV[2..n+1] the points of each counter
  Returns: {0, 0} allowed, or {index, waitMs}: the 1-based counter that refused and ms until its window ends
]]
--@include limits
local refused, waitMs = consume_limits(1, 1)
return {refused, waitMs}
