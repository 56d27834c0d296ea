-- Apply one partition's score events to one board, exactly once.
-- KEYS[1]  board sorted set
-- KEYS[2]  hash: partition -> highest offset already applied to this board, and
--          partition .. '@ts' -> the Kafka timestamp (ms) of the record at that offset
-- KEYS[3]  sorted set: event id -> when (server ms) it was applied to this board
-- ARGV[1]  reached slots (2^22: see shared/score_codec.py)
-- ARGV[2]  maximum total points a player can hold
-- ARGV[3]  partition name, scoped by the Kafka cluster it belongs to
-- ARGV[4]  how long (ms) applied event ids are remembered
-- ARGV[5]  clock margin (ms) allowed between the producers' clocks and this server's
-- ARGV[6..] groups of six, in offset order:
--          offset, event id, user id, points, second reached within the period, record timestamp ms (-1: none)
-- Returns {applied, redelivered, duplicates, resets, unverified}:
--   redelivered  offset at or below the watermark and its event remembered: the same record again
--   duplicates   event remembered, offset above the watermark: the same event in a new record (a retried POST)
--   resets       records proving the partition's offsets restarted (topic recreated, broker without
--                storage): at or below the watermark, never applied, produced too recently to be
--                forgotten or after the record at the watermark; applied, and the watermark starts again
--   unverified   at or below the watermark, event not remembered, too old to tell: skipped as redelivered
local board, watermarks, remembered = KEYS[1], KEYS[2], KEYS[3]
local slots = tonumber(ARGV[1])
local max_points = tonumber(ARGV[2])
local partition = ARGV[3]
local window_ms = tonumber(ARGV[4])
local margin_ms = tonumber(ARGV[5])
local timestamp_field = partition .. '@ts'

local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local still_remembered_after = now_ms - window_ms + margin_ms
redis.call('ZREMRANGEBYSCORE', remembered, '-inf', '(' .. string.format('%.0f', now_ms - window_ms))

local applied_upto = tonumber(redis.call('HGET', watermarks, partition) or '-1')
local upto_timestamp = tonumber(redis.call('HGET', watermarks, timestamp_field) or '-1')
local highest, highest_timestamp = applied_upto, upto_timestamp
local applied, redelivered, duplicates, resets, unverified = 0, 0, 0, 0, 0

local function add_to_board(member, points, reached)
  local old = redis.call('ZSCORE', board, member)
  if old then
    local old_score = tonumber(old)
    local old_points = math.floor(old_score / slots)
    local old_reached = slots - 1 - (old_score - old_points * slots)
    points = points + old_points
    if old_reached > reached then reached = old_reached end
  end
  if points > max_points then points = max_points end
  -- %.0f keeps all 53 bits; Lua's default number formatting would round to 14 digits.
  redis.call('ZADD', board, string.format('%.0f', points * slots + (slots - 1 - reached)), member)
end

for i = 6, #ARGV, 6 do
  local offset = tonumber(ARGV[i])
  local event_id = ARGV[i + 1]
  local produced_at = tonumber(ARGV[i + 5])
  local apply = false
  if offset > applied_upto then
    apply = redis.call('ZADD', remembered, 'NX', now_ms, event_id) == 1
    if not apply then duplicates = duplicates + 1 end
  elseif redis.call('ZSCORE', remembered, event_id) then
    redelivered = redelivered + 1
  elseif produced_at >= 0 and (produced_at > still_remembered_after
      or (upto_timestamp >= 0 and produced_at > upto_timestamp + margin_ms)) then
    resets = resets + 1
    applied_upto, highest = offset - 1, offset - 1
    redis.call('ZADD', remembered, now_ms, event_id)
    apply = true
  else
    unverified = unverified + 1
  end
  if apply then
    add_to_board(ARGV[i + 2], tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]))
    applied = applied + 1
  end
  if offset > highest then highest, highest_timestamp = offset, produced_at end
end

-- Written even when every record was skipped: that write makes a WAIT after a redelivery also
-- cover the first delivery's writes, which may not have reached a replica yet.
redis.call('HSET', watermarks, partition, string.format('%.0f', highest),
  timestamp_field, string.format('%.0f', highest_timestamp))
return {applied, redelivered, duplicates, resets, unverified}
