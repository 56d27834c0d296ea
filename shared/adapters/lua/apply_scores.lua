-- Apply one partition's score events to one board, exactly once.
-- KEYS[1]  board sorted set
-- KEYS[2]  hash of watermarks: partition -> highest offset applied to this board, and
--          partition .. '@ts' -> the newest Kafka timestamp (ms) applied from that partition
-- KEYS[3]  sorted set of this (board, partition)'s applied event ids, scored by their records' timestamps
-- ARGV[1]  the board codec's tick slots, 2^R (shared/domain/score_codec.py)
-- ARGV[2]  the board codec's largest total points: a player's total stops there
-- ARGV[3]  partition name, scoped by the Kafka cluster it belongs to
-- ARGV[4]  the same partition's name from before watermarks were scoped (migrated on first use)
-- ARGV[5]  how long (ms, in record time) applied event ids are remembered
-- ARGV[6]  clock margin (ms) allowed between producers' clocks, and between them and the caller's
-- ARGV[7]  now (ms), the caller's clock
-- ARGV[8]  how long (ms) the event ids outlive the last write from this partition
-- ARGV[9]  when (epoch ms) the board and its watermarks expire, the end of its retention; 0: kept
-- ARGV[10..] groups of six, in offset order:
--          offset, event id, user id, points, tick reached on this board, record timestamp ms (-1: none)
-- Returns {applied, resets, redelivered, duplicates, unverified, capped, expired}: two counts, the
-- offsets of the records skipped for three reasons (usually none), a count, and more offsets:
--   resets       at or below the watermark but never applied, and produced too recently to have been
--                forgotten (or well after the newest record applied): the partition's offsets restarted
--                (topic recreated, broker without storage). Applied; the watermark starts again.
--   redelivered  at or below the watermark, event remembered: the same record again
--   duplicates   event remembered, offset above the watermark: the same event in another record (a retried POST)
--   unverified   at or below the watermark, not remembered, too old to tell: skipped as redelivered
--   capped       applied records whose points were cut at the board's largest total
--   expired      every record of the call when the board's retention has ended (by the caller's
--                clock): nothing is written, so no partial board or watermark comes back to life
local board, watermarks, remembered = KEYS[1], KEYS[2], KEYS[3]
local slots = tonumber(ARGV[1])
local max_points = tonumber(ARGV[2])
local partition, unscoped = ARGV[3], ARGV[4]
local window_ms = tonumber(ARGV[5])
local margin_ms = tonumber(ARGV[6])
local now_ms = tonumber(ARGV[7])
local keep_ms = tonumber(ARGV[8])
local expires_at = ARGV[9]
local timestamp_field = partition .. '@ts'
local first_score = 10
local ZADD_PAIRS = 1000  -- members per ZADD: well within Lua's limit on unpacked values

if expires_at ~= '0' and now_ms >= tonumber(expires_at) then
  local expired = {}
  for i = first_score, #ARGV, 6 do expired[#expired + 1] = tonumber(ARGV[i]) end
  return {0, 0, {}, {}, {}, 0, expired}
end

-- Redis keeps a script's earlier writes when a later command fails, so a key of the wrong type is
-- refused before anything is written: the call then applies nothing, and its redelivery everything.
for _, key in ipairs({board, remembered}) do
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'zset' and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. kind .. ', not a sorted set')
  end
end

local upto = redis.call('HGET', watermarks, partition)
if not upto then
  upto = redis.call('HGET', watermarks, unscoped)
  if upto then redis.call('HDEL', watermarks, unscoped) end
end
local applied_upto = tonumber(upto or '-1')
local newest = tonumber(redis.call('HGET', watermarks, timestamp_field) or '-1')
-- Every applied event is remembered; a watermark without its memory means the memory expired.
local memory_intact = redis.call('EXISTS', remembered) == 1
if newest >= 0 then
  redis.call('ZREMRANGEBYSCORE', remembered, '-inf', '(' .. string.format('%.0f', newest - window_ms - margin_ms))
end

local applied, resets, capped = 0, 0, 0
local redelivered, duplicates, unverified = {}, {}, {}
local highest_offset, highest_time = -1, -1

-- The rule of ScoreCodec.add (shared/domain/score_codec.py), the reference this is held to by
-- tests/integration/test_score_model.py. A call's records are folded per player in memory, in
-- record order by that rule, so each player's score is read once and the changed ones are written
-- together at the end: the same scores as one ZADD per record, for fewer commands.
local players, changed_players = {}, {}
local function add_to_board(member, points, tick)
  local player = players[member]
  if not player then
    player = {}
    local old = redis.call('ZSCORE', board, member)
    if old then
      local old_score = tonumber(old)
      player.points = math.floor(old_score / slots)
      player.tick = slots - 1 - (old_score - player.points * slots)
    end
    players[member] = player
  end
  local total = points
  if player.points then total = player.points + points end
  if total > max_points then
    total = max_points
    capped = capped + 1
  end
  if player.points then
    -- The tick records when the total was reached, so it moves only with the total: a player held
    -- at the cap keeps the instant they got there.
    if total == player.points then return end
    if player.tick > tick then tick = player.tick end
  end
  if not player.changed then
    player.changed = true
    changed_players[#changed_players + 1] = member
  end
  player.points, player.tick = total, tick
end

local function write_changed_players()
  local scores_and_members = {}
  for _, member in ipairs(changed_players) do
    local player = players[member]
    -- %.0f keeps all 53 bits; Lua's default number formatting would round to 14 digits.
    scores_and_members[#scores_and_members + 1] = string.format('%.0f', player.points * slots + (slots - 1 - player.tick))
    scores_and_members[#scores_and_members + 1] = member
    if #scores_and_members == ZADD_PAIRS * 2 then
      redis.call('ZADD', board, unpack(scores_and_members))
      scores_and_members = {}
    end
  end
  if #scores_and_members > 0 then redis.call('ZADD', board, unpack(scores_and_members)) end
end

local function never_applied_here(produced_at)
  if produced_at < 0 or produced_at > now_ms + margin_ms or newest < 0 then return false end
  if produced_at > newest + margin_ms then return true end
  return memory_intact and produced_at > newest - window_ms + margin_ms
end

for i = first_score, #ARGV, 6 do
  local offset = tonumber(ARGV[i])
  local event_id = ARGV[i + 1]
  local produced_at = tonumber(ARGV[i + 5])
  -- A missing or future timestamp is remembered as now: never later than this call could see.
  local remembered_at = produced_at
  if remembered_at < 0 or remembered_at > now_ms then remembered_at = now_ms end
  local apply = false
  if offset > applied_upto then
    apply = redis.call('ZADD', remembered, 'NX', remembered_at, event_id) == 1
    if not apply then duplicates[#duplicates + 1] = offset end
  elseif redis.call('ZSCORE', remembered, event_id) then
    redelivered[#redelivered + 1] = offset
  elseif never_applied_here(produced_at) then
    resets = resets + 1
    redis.call('ZADD', remembered, remembered_at, event_id)
    apply = true
  else
    unverified[#unverified + 1] = offset
  end
  if apply then
    add_to_board(ARGV[i + 2], tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]))
    applied = applied + 1
  end
  if offset > highest_offset then highest_offset = offset end
  if remembered_at > highest_time then highest_time = remembered_at end
end

write_changed_players()

-- After a restart the watermark follows the new offsets down; otherwise it only moves up.
if resets == 0 then
  if applied_upto > highest_offset then highest_offset = applied_upto end
  if newest > highest_time then highest_time = newest end
end
-- Written even when every record was skipped: that write makes a WAIT after a redelivery also
-- cover the first delivery's writes, which may not have reached a replica yet.
redis.call('HSET', watermarks, partition, string.format('%.0f', highest_offset),
  timestamp_field, string.format('%.0f', highest_time))
if redis.call('EXISTS', remembered) == 1 then redis.call('PEXPIRE', remembered, keep_ms) end
-- The board and its watermarks go together: watermarks without their board would skip its records
-- as applied, and a board without its watermarks would take them again.
for _, key in ipairs({board, watermarks}) do
  if expires_at == '0' then redis.call('PERSIST', key) else redis.call('PEXPIREAT', key, expires_at) end
end
return {applied, resets, redelivered, duplicates, unverified, capped, {}}
