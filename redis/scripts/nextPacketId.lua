--[[
  Pre-allocate the next packet id number of a day and region.
  KEYS[1] rp:ids:<region>:<day>
  ARGV[1] floor: milliseconds since the day began times 1000
  ARGV[2] ttlMs: how long the counter outlives its day
  Returns: the allocated number (integer)

  Redis keeps nothing on disk here, so a restart loses the counter. Seeding a missing counter with a floor
  that grows 1000 per millisecond keeps every number above any number handed out before the restart, as long
  as fewer than a million packets a second were sent in between.
]]
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return redis.call('INCR', KEYS[1])
