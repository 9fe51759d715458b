--[[
  Rate limits, included by every script that checks them (consumeLimit, grabShare, checkHold), so the
  counting rule is written once. Fixed one-window counters, as rate-limiter-flexible counts them: the first
  request of a window creates the counter with the window's TTL, every request adds one, a counter above its
  points refuses until its TTL ends. Counters are checked in order and the first refusal stops the count, so
  a request refused by one limit is not charged to the later ones.

  consume_limits(firstKey, windowArg): KEYS[firstKey..#KEYS] are the counters, ARGV[windowArg] the window
  in ms, ARGV[windowArg + i] the points of the i-th counter. A counter key without points is not counted:
  scripts take a fixed number of keys (Redis Cluster routes a call by its first key, and ioredis' auto-
  pipelining groups calls by it), so a call that counts nothing still names its counter.
  Returns 0, 0 when every limit allows the request, else the 1-based index of the refusing counter and the
  ms until its window ends.
]]
local function consume_limits(firstKey, windowArg)
  local windowMs = tonumber(ARGV[windowArg])
  for i = firstKey, #KEYS do
    local key = KEYS[i]
    local points = tonumber(ARGV[windowArg + i - firstKey + 1])
    if not points then
      return 0, 0
    end
    redis.call('SET', key, 0, 'PX', windowMs, 'NX')
    local consumed = redis.call('INCR', key)
    if consumed > points then
      local waitMs = redis.call('PTTL', key)
      if waitMs < 0 then
        redis.call('PEXPIRE', key, windowMs)
        waitMs = windowMs
      end
      return i - firstKey + 1, waitMs
    end
  end
  return 0, 0
end
