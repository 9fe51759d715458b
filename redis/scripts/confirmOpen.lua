--[[
  After the open transaction committed: the hold becomes a claim, so it can neither lapse back into the pool
  nor be grabbed again by the same user.
  KEYS[1] rp:{id}:gate   KEYS[2] rp:{id}:holders   KEYS[3] rp:{id}:claimed
  ARGV[1] userId
  Returns: 1 a hold was converted, 0 no hold was left (it lapsed and its share went back to the pool)
]]
redis.call('SADD', KEYS[3], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return redis.call('ZREM', KEYS[2], ARGV[1])
