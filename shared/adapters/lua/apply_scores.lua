-- Apply one partition's score events to one board, exactly once.
-- KEYS[1]  board sorted set
-- KEYS[2]  hash of watermarks: partition -> highest offset applied to this board, and
--          partition .. '@ts' -> the newest Kafka timestamp (ms) applied from that partition
-- KEYS[3]  sorted set of this (board, partition)'s applied event ids, scored by their records' timestamps
-- KEYS[4]  the board's hidden set: banned players' entries, encoded as on the board
-- ARGV[1]  the board codec's tick slots, 2^R (shared/domain/score_codec.py)
-- ARGV[2]  the board codec's largest total points: a player's total stops there
-- ARGV[3]  partition name, scoped by the Kafka cluster it belongs to
-- ARGV[4]  the same partition's name from before watermarks were scoped (migrated on first use)
-- ARGV[5]  how long (ms, in record time) applied event ids are remembered
-- ARGV[6]  clock margin (ms) allowed between producers' clocks, and between them and the caller's
-- ARGV[7]  now (ms), the caller's clock
-- ARGV[8]  how long (ms) the event ids outlive the last write from this partition
-- ARGV[9]  when (epoch ms) the board and its watermarks expire, the end of its retention; 0: kept
-- ARGV[10] the records, in offset order, as one MessagePack array of seven-element arrays
--          (shared/adapters/board_writer.py, packed_records):
--          offset, event id, user id, points, tick reached on this board, record timestamp ms (-1: none),
--          tag: what the record does (shared/application/moderation_apply.py):
--            s  add the points to the player's entry on the board
--            h  add them to the player's entry in the hidden set (the player is banned)
--            b  ban: move the player's entry from the board into the hidden set
--            u  unban: move the player's hidden entry back onto the board
--            r  reset: remove the player's entries from the board and the hidden set
--          A moderation action (b, u, r) carries its action id as event id, 0 points and tick 0.
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
-- An action at or below the watermark that the board does not remember is skipped as redelivered,
-- never taken for restarted offsets: a call of actions alone to a board that did not exist wrote
-- nothing (below), and the board may have been created by later records since.
local board, watermarks, remembered, hidden = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local slots = tonumber(ARGV[1])
local max_points = tonumber(ARGV[2])
local partition, unscoped = ARGV[3], ARGV[4]
local window_ms = tonumber(ARGV[5])
local margin_ms = tonumber(ARGV[6])
local now_ms = tonumber(ARGV[7])
local keep_ms = tonumber(ARGV[8])
local expires_at = ARGV[9]
local records = cmsgpack.unpack(ARGV[10])
local timestamp_field = partition .. '@ts'
local is_action = {b = true, u = true, r = true}

if expires_at ~= '0' and now_ms >= tonumber(expires_at) then
  local expired = {}
  for i, record in ipairs(records) do expired[i] = record[1] end
  return {0, 0, {}, {}, {}, 0, expired}
end

-- Actions alone change nothing on a board that does not exist, and write nothing there: a ban is
-- sent to every retained period of every window, most of which its player never played in.
local actions_only = #records > 0
for _, record in ipairs(records) do
  local tag = record[7]
  if not is_action[tag] then
    if tag ~= 's' and tag ~= 'h' then return redis.error_reply('ERR unknown record tag ' .. tostring(tag)) end
    actions_only = false
  end
end
if actions_only and redis.call('EXISTS', board, hidden) == 0 then
  return {0, 0, {}, {}, {}, 0, {}}
end

-- Redis keeps a script's earlier writes when a later command fails, so a key of the wrong type is
-- refused before anything is written: the call then applies nothing, and its redelivery everything.
for _, key in ipairs({board, remembered, hidden}) do
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
-- record order: each player has an entry on the board (shown) and one in the hidden set, each read
-- at most once, when a record first needs it. The entries that changed are written together at
-- the end (one multi-member ZADD, and one ZREM, per set): the same sets as writing record by record,
-- for fewer commands. An entry's points are nil while the player has none in that set.
local ZADD_PAIRS = 1000  -- members per ZADD or ZREM: well within Lua's limit on unpacked values
local shown = {key = board, entries = {}, changed = {}}
local hidden_set = {key = hidden, entries = {}, changed = {}}

local function entry_of(set, member)
  local entry = set.entries[member]
  if not entry then
    entry = {}
    local old = redis.call('ZSCORE', set.key, member)
    if old then
      local old_score = tonumber(old)
      entry.points = math.floor(old_score / slots)
      entry.tick = slots - 1 - (old_score - entry.points * slots)
    end
    set.entries[member] = entry
  end
  return entry
end

local function mark_changed(set, member, entry)
  if not entry.changed then
    entry.changed = true
    set.changed[#set.changed + 1] = member
  end
end

local function add_to(set, member, points, tick)
  local entry = entry_of(set, member)
  local total = points
  if entry.points then total = entry.points + points end
  if total > max_points then
    total = max_points
    capped = capped + 1
  end
  if entry.points then
    -- The tick records when the total was reached, so it moves only with the total: a player held
    -- at the cap keeps the instant they got there.
    if total == entry.points then return end
    if entry.tick > tick then tick = entry.tick end
  end
  mark_changed(set, member, entry)
  entry.points, entry.tick = total, tick
end

-- A ban or unban: the entry leaves one set and is added to the other by the same rule as a score,
-- so a player's hidden and shown points (both possible after a timed ban ended) sum up.
local function move(from, to, member)
  local entry = entry_of(from, member)
  if not entry.points then return end
  local points, tick = entry.points, entry.tick
  mark_changed(from, member, entry)
  entry.points, entry.tick = nil, nil
  add_to(to, member, points, tick)
end

-- A reset: whatever the sets held, the player ends with no entry in either (nothing to read).
local function clear(set, member)
  local entry = set.entries[member]
  if not entry then
    entry = {}
    set.entries[member] = entry
  end
  mark_changed(set, member, entry)
  entry.points, entry.tick = nil, nil
end

local function write_changed(set)
  local scores_and_members, removed = {}, {}
  for _, member in ipairs(set.changed) do
    local entry = set.entries[member]
    if entry.points then
      -- %.0f keeps all 53 bits; Lua's default number formatting would round to 14 digits.
      scores_and_members[#scores_and_members + 1] = string.format('%.0f', entry.points * slots + (slots - 1 - entry.tick))
      scores_and_members[#scores_and_members + 1] = member
      if #scores_and_members == ZADD_PAIRS * 2 then
        redis.call('ZADD', set.key, unpack(scores_and_members))
        scores_and_members = {}
      end
    else
      removed[#removed + 1] = member
      if #removed == ZADD_PAIRS then
        redis.call('ZREM', set.key, unpack(removed))
        removed = {}
      end
    end
  end
  if #scores_and_members > 0 then redis.call('ZADD', set.key, unpack(scores_and_members)) end
  if #removed > 0 then redis.call('ZREM', set.key, unpack(removed)) end
end

local function never_applied_here(produced_at)
  if produced_at < 0 or produced_at > now_ms + margin_ms or newest < 0 then return false end
  if produced_at > newest + margin_ms then return true end
  return memory_intact and produced_at > newest - window_ms + margin_ms
end

for _, record in ipairs(records) do
  local offset, event_id, member, points, tick, produced_at, tag = unpack(record)
  -- A missing or future timestamp is remembered as now: never later than this call could see.
  local remembered_at = produced_at
  if remembered_at < 0 or remembered_at > now_ms then remembered_at = now_ms end
  local apply = false
  if offset > applied_upto then
    apply = redis.call('ZADD', remembered, 'NX', remembered_at, event_id) == 1
    if not apply then duplicates[#duplicates + 1] = offset end
  elseif redis.call('ZSCORE', remembered, event_id) or (is_action[tag] and resets == 0) then
    redelivered[#redelivered + 1] = offset
  elseif never_applied_here(produced_at) then
    resets = resets + 1
    redis.call('ZADD', remembered, remembered_at, event_id)
    apply = true
  else
    unverified[#unverified + 1] = offset
  end
  if apply then
    if tag == 's' then
      add_to(shown, member, points, tick)
    elseif tag == 'h' then
      add_to(hidden_set, member, points, tick)
    elseif tag == 'b' then
      move(shown, hidden_set, member)
    elseif tag == 'u' then
      move(hidden_set, shown, member)
    elseif tag == 'r' then
      clear(shown, member)
      clear(hidden_set, member)
    end
    applied = applied + 1
  end
  if offset > highest_offset then highest_offset = offset end
  if remembered_at > highest_time then highest_time = remembered_at end
end

write_changed(shown)
write_changed(hidden_set)

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
-- The board, its hidden set and its watermarks go together: watermarks without their board would
-- skip its records as applied, and a board without its watermarks would take them again.
for _, key in ipairs({board, hidden, watermarks}) do
  if expires_at == '0' then redis.call('PERSIST', key) else redis.call('PEXPIREAT', key, expires_at) end
end
return {applied, resets, redelivered, duplicates, unverified, capped, {}}
