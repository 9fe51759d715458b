--[[
  Pre-allocate the next packet id number of a day and region.
  KEYS[1] rp:ids:<region>:<day>
  ARGV[1] floor: milliseconds since the day began times 1000
  ARGV[2] ttlMs: how long the counter outlives its day
  Returns: the allocated number (integer)

  Redis keeps nothing on disk here, so a restart (or a failover to a lagging replica) can lose or rewind the
  counter. Never answering below a floor that grows 1000 per millisecond keeps every number above any number
  handed out before, as long as fewer than a million packets a second were sent in between. The send path
  still checks that the packet it reached is its own.
]]
local floor = tonumber(ARGV[1])
local n = redis.call('INCR', KEYS[1])
if n <= floor then
  n = floor + 1
  redis.call('SET', KEYS[1], n)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n
