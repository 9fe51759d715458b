--[[
  Arm the grab gate of a packet from what Postgres says, unless it is already armed.
  KEYS[1] rp:{id}:gate   KEYS[2] rp:{id}:claimed   KEYS[3] rp:{id}:audience
  ARGV[1] remaining shares   ARGV[2] share count   ARGV[3] expiresAtMs   ARGV[4] keysExpireAtMs
  ARGV[5] restricted: 1 when only the audience may grab (it may be empty), 0 when anyone may
  ARGV[6] number of claimed users n   ARGV[7 .. 6+n] claimed user ids   ARGV[7+n ..] audience member ids
  Returns: 1 armed now, 0 already armed (left untouched so live holds are not reset). Either way the gate
    is there afterwards. A partial gate (no expiry, as an older exhaustGate left on a gate Redis had lost)
    counts as not armed and is replaced.
]]
if redis.call('HEXISTS', KEYS[1], 'expiresAtMs') == 1 then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'count', ARGV[2], 'expiresAtMs', ARGV[3],
  'restricted', ARGV[5])
local claimedCount = tonumber(ARGV[6])
for i = 7, 6 + claimedCount do
  redis.call('SADD', KEYS[2], ARGV[i])
end
for i = 7 + claimedCount, #ARGV do
  redis.call('SADD', KEYS[3], ARGV[i])
end
for i = 1, 3 do
  redis.call('PEXPIREAT', KEYS[i], ARGV[4])
end
return 1
