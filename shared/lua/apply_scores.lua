-- Apply one partition's score events to one board, exactly once.
-- KEYS[1]  board sorted set
-- KEYS[2]  hash: topic-partition -> highest offset already applied to this board
-- ARGV[1]  reached slots (2^22: see shared/score_codec.py)
-- ARGV[2]  maximum total points a player can hold
-- ARGV[3]  topic-partition name
-- ARGV[4..] groups of four, in offset order: offset, user id, points, second reached within the period
-- Returns {applied, skipped}.
local board, watermarks = KEYS[1], KEYS[2]
local slots = tonumber(ARGV[1])
local max_points = tonumber(ARGV[2])
local partition = ARGV[3]

local applied_upto = tonumber(redis.call('HGET', watermarks, partition) or '-1')
local highest = applied_upto
local applied, skipped = 0, 0

for i = 4, #ARGV, 4 do
  local offset = tonumber(ARGV[i])
  if offset <= applied_upto then
    skipped = skipped + 1
  else
    local member = ARGV[i + 1]
    local points = tonumber(ARGV[i + 2])
    local reached = tonumber(ARGV[i + 3])
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
    if offset > highest then highest = offset end
    applied = applied + 1
  end
end

-- Written even when every record was skipped: that write makes a WAIT after a redelivery also
-- cover the first delivery's writes, which may not have reached a replica yet.
redis.call('HSET', watermarks, partition, string.format('%.0f', highest))
return {applied, skipped}
