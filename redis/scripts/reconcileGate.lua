--[[
  Reconcile one packet's gate and detail cache with what Postgres says (the reconciler, once per run).
  KEYS[1] rp:{id}:gate   KEYS[2] rp:{id}:holders   KEYS[3] rp:{id}:claimed   KEYS[4] rp:{id}:audience
  KEYS[5] rp:{id}:detail
  ARGV[1] 1 the packet is open in Postgres, 0 closed or finished
  ARGV[2] 1 quiet: no open or credit lately and expiry not near, so counts and the cached detail can be
    compared with Postgres' without racing an open between its commit and confirmOpen; 0 otherwise
  ARGV[3] remaining shares in Postgres   ARGV[4] keysExpireAtMs   ARGV[5] status in Postgres
  Returns: the repairs made, each a name (packets/gate/reconcileGates.ts GateRepair), empty when none:
    half_gate          a gate missing fields (no expiry) was removed; a grab re-arms an open packet's
    gate_after_close   a closed or finished packet's gate offered shares or held holds: now exhausted
    gate_count         an open packet's gate offered remaining + holds <> Postgres' remaining: set to match
    gate_ttl           the gate had no TTL: every key of the packet that had none now expires with it
    detail_stale       the cached detail had no TTL, did not parse, or disagreed with Postgres: dropped
]]
local repairs = {}
local packetOpen = ARGV[1] == '1'
local quiet = ARGV[2] == '1'
local pgRemaining = tonumber(ARGV[3])

if redis.call('EXISTS', KEYS[1]) == 1 then
  local gate = redis.call('HMGET', KEYS[1], 'remaining', 'count', 'expiresAtMs', 'restricted')
  if not (gate[1] and gate[2] and gate[3] and gate[4]) then
    if packetOpen then
      redis.call('UNLINK', KEYS[1], KEYS[2])
    else
      redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
    end
    table.insert(repairs, 'half_gate')
  else
    local holds = redis.call('ZCARD', KEYS[2])
    local remaining = tonumber(gate[1])
    if not packetOpen then
      if remaining > 0 or holds > 0 then
        redis.call('HSET', KEYS[1], 'remaining', 0)
        redis.call('UNLINK', KEYS[2])
        table.insert(repairs, 'gate_after_close')
      end
    elseif quiet and remaining + holds ~= pgRemaining then
      redis.call('HSET', KEYS[1], 'remaining', math.max(0, pgRemaining - holds))
      table.insert(repairs, 'gate_count')
    end
    if redis.call('PTTL', KEYS[1]) == -1 then
      for i = 1, 4 do
        if redis.call('PTTL', KEYS[i]) == -1 then
          redis.call('PEXPIREAT', KEYS[i], ARGV[4])
        end
      end
      table.insert(repairs, 'gate_ttl')
    end
  end
end

local detail = redis.call('GET', KEYS[5])
if detail then
  local parsed, snapshot = pcall(cjson.decode, detail)
  local stale = not parsed or type(snapshot) ~= 'table' or type(snapshot.packet) ~= 'table'
    or redis.call('PTTL', KEYS[5]) == -1
  if not stale and quiet then
    stale = snapshot.packet.status ~= ARGV[5] or tonumber(snapshot.packet.remainingCount) ~= pgRemaining
  end
  if stale then
    redis.call('UNLINK', KEYS[5])
    table.insert(repairs, 'detail_stale')
  end
end
return repairs
