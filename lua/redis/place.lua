-- Cube placement (docs/internals.md, "Placement"), run atomically inside Redis by the
-- gateway (ngx_cube_module) with EVALSHA / EVAL:
--   KEYS = {}, ARGV = {template_id, now_ms}
-- Picks, among the nodes that hold the template (cube:template:<id>:nodes), one that is
-- alive (cube:node:<n>:alive exists), ready (state == "ready"), not drained by an
-- operator (cube:node:<n>:drain absent; see cubectl drain) and not full
-- (sandboxes < capacity), with the lowest sandboxes/capacity (ties: lowest node id,
-- so the choice is deterministic). It increments that node's `sandboxes` so that
-- concurrent creates spread; the gateway undoes the increment (HINCRBY -1) when the
-- create fails. Returns {node_id, worker_addr}, or the error reply NO_NODE.
-- now_ms is accepted for callers' symmetry and future use (e.g. staleness checks).

local template_id = ARGV[1]
if template_id == nil or template_id == '' then
  return redis.error_reply('NO_NODE no template id given')
end

local nodes = redis.call('SMEMBERS', 'cube:template:' .. template_id .. ':nodes')
local best, best_addr, best_load

for _, node in ipairs(nodes) do
  if redis.call('EXISTS', 'cube:node:' .. node .. ':alive') == 1
     and redis.call('EXISTS', 'cube:node:' .. node .. ':drain') == 0 then
    local f = redis.call('HMGET', 'cube:node:' .. node, 'state', 'sandboxes', 'capacity', 'addr')
    local state = f[1]
    local used = tonumber(f[2]) or 0
    local cap = tonumber(f[3]) or 0
    local addr = f[4]
    if state == 'ready' and addr and addr ~= '' and cap > 0 and used < cap then
      local load = used / cap
      if best == nil or load < best_load or (load == best_load and node < best) then
        best, best_addr, best_load = node, addr, load
      end
    end
  end
end

if best == nil then
  return redis.error_reply('NO_NODE no healthy node holds template ' .. template_id)
end

redis.call('HINCRBY', 'cube:node:' .. best, 'sandboxes', 1)
return {best, best_addr}
