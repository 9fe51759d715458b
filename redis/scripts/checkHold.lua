--[[
  Before an open: does this user hold a live share, or has the user opened already?
  KEYS[1] rp:{id}:gate   KEYS[2] rp:{id}:holders   KEYS[3] rp:{id}:claimed   KEYS[4] rp:{id}:audience
  ARGV[1] userId   ARGV[2] nowMs
  Returns: 1 live hold, 2 already claimed (the open returns the same claim), -1 no live hold,
    -3 not armed (gate missing), -5 not allowed (answered like an unknown packet)
]]
local restricted = redis.call('HGET', KEYS[1], 'restricted')
if not restricted then
  return -3
end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
  return 2
end
if restricted == '1' and redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 then
  return -5
end
local held = redis.call('ZSCORE', KEYS[2], ARGV[1])
if held and tonumber(held) > tonumber(ARGV[2]) then
  return 1
end
return -1
