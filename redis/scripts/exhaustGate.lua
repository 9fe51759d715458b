--[[
  Mark a finished packet's gate exhausted: no share left, holders and the cached detail dropped; claimed and
  audience stay until the TTL so late grabs are still answered by Redis.
  KEYS[1] rp:{id}:gate   KEYS[2] rp:{id}:holders   KEYS[3] rp:{id}:detail
  Returns: 1 the gate was marked exhausted, 0 no armed gate (Redis lost it): nothing is created, since a
    gate with only `remaining` and no expiry or TTL would outlive the packet and answer nothing sensible.
]]
redis.call('UNLINK', KEYS[2], KEYS[3])
if redis.call('HEXISTS', KEYS[1], 'expiresAtMs') == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'remaining', 0)
return 1
