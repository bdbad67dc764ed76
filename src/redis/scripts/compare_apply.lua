-- Applies one batch of comparison counters and moves that partition's offset, atomically and
-- at most once: a batch delivered twice (a restarted or rebalanced aggregator) is applied once.
--
-- KEYS[1]  the side's counter hash      (keys.compareCounters(id, side))
-- KEYS[2]  the side's per-key hash       (keys.compareKeys(id, side)): record key → records
-- KEYS[3]  the offsets hash              (keys.compareOffsets(id)): "<topic>:<partition>" → next offset
-- ARGV[1]  "<topic>:<partition>"
-- ARGV[2]  the offset this batch starts at (the stored offset must equal it, or be absent)
-- ARGV[3]  the offset after this batch
-- ARGV[4]  n = number of counter pairs; then n pairs (field, integer increment);
--          then, optionally, one more: the record keys and their integer increments as one
--          MessagePack array: key, increment, key, increment, … (counter.ts, BatchCounts.keys)
-- Returns 1 when applied, 0 when this batch was already applied (skipped). Refuses the whole
-- batch, changing nothing, with "ERR increment or decrement would overflow: <field>" when a
-- counter would come within 0.25 % of Redis's 64-bit integer limit (a script is not rolled back:
-- an HINCRBY failing half-way would leave the increments before it applied).
local stored = redis.call('HGET', KEYS[3], ARGV[1])
if stored and tonumber(stored) ~= tonumber(ARGV[2]) then
  return 0
end
local n = tonumber(ARGV[4])
-- Current values in slices of 1,000 fields (unpack's limit), checked in doubles: 9.2e18 leaves
-- room for their rounding below 2^63 - 1.
for first = 1, n, 1000 do
  local last = math.min(n, first + 999)
  local fields = {}
  for k = first, last do fields[#fields + 1] = ARGV[3 + 2 * k] end
  local current = redis.call('HMGET', KEYS[1], unpack(fields))
  for k = first, last do
    local now = tonumber(current[k - first + 1] or '0') or 0
    if math.abs(now + tonumber(ARGV[4 + 2 * k])) >= 9.2e18 then
      return redis.error_reply('ERR increment or decrement would overflow: ' .. ARGV[3 + 2 * k])
    end
  end
end
local i = 5
for _ = 1, n do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
if ARGV[i] then
  local counts = cmsgpack.unpack(ARGV[i])
  for j = 1, #counts, 2 do
    redis.call('HINCRBY', KEYS[2], counts[j], counts[j + 1])
  end
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 1
