-- The run's shared token bucket: reserve capacity for a piece of work, refilled by Redis's own clock.
--
-- KEYS[1]  the bucket hash (keys.bucket(runId)); fields:
--            rate_records, rate_bytes   limits per second ("0" = no limit on that unit)
--            burst_ms                   capacity, in milliseconds of the rate
--            factor                     adaptive back-off multiplier in (0, 1] (absent = 1)
--            tokens_records, tokens_bytes, ts_ms   the bucket's level at ts_ms (may be negative: reserved)
-- ARGV[1]  records requested      ARGV[2]  bytes requested
-- ARGV[3]  rate_records, ARGV[4] rate_bytes, ARGV[5] burst_ms: used only to create the bucket
--
-- Returns { wait_ms, effective_records_per_s (string, "0" = none), effective_bytes_per_s }.
-- The request is always granted by going into debt; the caller waits wait_ms before doing the
-- work, so callers are served in the order they asked and the long-run rate is exact.
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if redis.call('EXISTS', key) == 0 then
  redis.call('HSET', key, 'rate_records', ARGV[3], 'rate_bytes', ARGV[4], 'burst_ms', ARGV[5], 'factor', '1',
    'tokens_records', tostring(tonumber(ARGV[3]) * tonumber(ARGV[5]) / 1000),
    'tokens_bytes', tostring(tonumber(ARGV[4]) * tonumber(ARGV[5]) / 1000), 'ts_ms', tostring(now))
end

local h = redis.call('HMGET', key, 'rate_records', 'rate_bytes', 'burst_ms', 'factor', 'tokens_records', 'tokens_bytes', 'ts_ms')
local factor = tonumber(h[4]) or 1
local rr = (tonumber(h[1]) or 0) * factor
local rb = (tonumber(h[2]) or 0) * factor
local burst = tonumber(h[3]) or 1000
local tr = tonumber(h[5]) or 0
local tb = tonumber(h[6]) or 0
local ts = tonumber(h[7]) or now
local dt = math.max(0, now - ts)

local wait = 0
if rr > 0 then
  tr = math.min(rr * burst / 1000, tr + rr * dt / 1000) - tonumber(ARGV[1])
  if tr < 0 then wait = math.max(wait, -tr / rr * 1000) end
end
if rb > 0 then
  tb = math.min(rb * burst / 1000, tb + rb * dt / 1000) - tonumber(ARGV[2])
  if tb < 0 then wait = math.max(wait, -tb / rb * 1000) end
end
redis.call('HSET', key, 'tokens_records', tostring(tr), 'tokens_bytes', tostring(tb), 'ts_ms', tostring(now))
redis.call('PEXPIRE', key, 7 * 24 * 3600 * 1000)
return { math.ceil(wait), tostring(rr), tostring(rb) }
