--[[
  Arm the grab gate of a packet from what Postgres says, unless it is already armed.
  KEYS[1] rp:{id}:gate   KEYS[2] rp:{id}:claimed   KEYS[3] rp:{id}:audience
  ARGV[1] remaining shares   ARGV[2] share count   ARGV[3] expiresAtMs   ARGV[4] keysExpireAtMs
  ARGV[5] number of claimed users n   ARGV[6 .. 5+n] claimed user ids   ARGV[6+n ..] audience member ids
  Returns: 1 armed now, 0 already armed (left untouched so live holds are not reset)
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'count', ARGV[2], 'expiresAtMs', ARGV[3])
local claimedCount = tonumber(ARGV[5])
for i = 6, 5 + claimedCount do
  redis.call('SADD', KEYS[2], ARGV[i])
end
local hasAudience = false
for i = 6 + claimedCount, #ARGV do
  redis.call('SADD', KEYS[3], ARGV[i])
  hasAudience = true
end
redis.call('HSET', KEYS[1], 'restricted', hasAudience and '1' or '0')
for i = 1, 3 do
  redis.call('PEXPIREAT', KEYS[i], ARGV[4])
end
return 1
