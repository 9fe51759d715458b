--[[
  After the open transaction committed: the hold becomes a claim, so it can neither lapse back into the pool
  nor be grabbed again by the same user.
  KEYS[1] rp:{id}:gate   KEYS[2] rp:{id}:holders   KEYS[3] rp:{id}:claimed
  ARGV[1] userId
  Returns: 1 a hold was converted, 0 no hold was left (it lapsed; the share is taken out again) or no gate,
  2 the user was already confirmed (nothing changes)
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
-- A second confirm for one claim (a retried open, or two replicas answering a double tap) must not take
-- another share out of the pool.
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
  return 2
end
redis.call('SADD', KEYS[3], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[3], ttl)
end
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 0 then
  -- The hold had lapsed and a grab already returned its share to the pool: take it back out, since the
  -- claim used it.
  redis.call('HINCRBY', KEYS[1], 'remaining', -1)
end
return removed
