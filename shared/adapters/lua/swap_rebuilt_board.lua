-- Swap a rebuilt board (its shadow keys) in for the live one, atomically (docs/ARCHIVE.md, "Rebuilding a board").
-- KEYS[1]  live board                KEYS[2]  live watermarks
-- KEYS[3]  shadow board              KEYS[4]  shadow watermarks
-- KEYS[5]  the rebuild's lock        KEYS[6]  the rebuild's progress
-- KEYS[7]  live hidden set            KEYS[8]  shadow hidden set (banned players' entries)
-- KEYS[9..] pairs, one per partition: the shadow's remembered event ids, then the live ones
-- ARGV[1]  the lock's token: only the run holding the lock may swap
-- ARGV[2]  'replay': board, hidden set, watermarks and remembered ids are swapped, and only if the shadow
--          has applied at least every offset the live watermarks name; 'archive': the board alone is
--          swapped (an archive holds only shown players: the live hidden set stays as it is)
-- ARGV[3]  'archive' only: when (epoch ms) the board and the live watermarks expire
-- ARGV[4..] the partitions of the pairs, in order: exactly those in the shadow's watermarks
-- Returns {1} once swapped, or {0, partition, live offset, shadow offset} when the shadow is behind the
-- live board on that partition (nothing written: the caller replays further and asks again).
local live_board, live_marks, shadow_board, shadow_marks = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local lock, progress = KEYS[5], KEYS[6]
local live_hidden, shadow_hidden = KEYS[7], KEYS[8]
local token, mode = ARGV[1], ARGV[2]

if redis.call('GET', lock) ~= token then
  return redis.error_reply('REBUILD the lock on ' .. live_board .. ' is not this run\'s any more')
end

local function is_partition(field)
  return string.sub(field, -3) ~= '@ts'
end

if mode == 'archive' then
  if redis.call('EXISTS', shadow_board) == 0 then
    return redis.error_reply('REBUILD ' .. shadow_board .. ' does not exist')
  end
  redis.call('RENAME', shadow_board, live_board)
  redis.call('PEXPIREAT', live_board, ARGV[3])
  if redis.call('EXISTS', live_marks) == 1 then redis.call('PEXPIREAT', live_marks, ARGV[3]) end
  redis.call('DEL', shadow_marks, shadow_hidden, progress)
  return {1}
end

local named = {}
for i = 4, #ARGV do named[ARGV[i]] = true end
local shadow_offsets = {}
local fields = redis.call('HGETALL', shadow_marks)
for i = 1, #fields, 2 do
  if is_partition(fields[i]) then
    if not named[fields[i]] then
      return redis.error_reply('REBUILD partition ' .. fields[i] .. ' of the shadow was not named')
    end
    shadow_offsets[fields[i]] = tonumber(fields[i + 1])
  end
end
for partition in pairs(named) do
  if shadow_offsets[partition] == nil then
    return redis.error_reply('REBUILD partition ' .. partition .. ' is not in the shadow')
  end
end

local live = redis.call('HGETALL', live_marks)
for i = 1, #live, 2 do
  if is_partition(live[i]) then
    local reached = shadow_offsets[live[i]] or -1
    if reached < tonumber(live[i + 1]) then
      return {0, live[i], live[i + 1], tostring(reached)}
    end
  end
end

-- A rebuilt board may be empty (nobody scored), or hide nobody: the live keys then go.
for _, pair in ipairs({{shadow_board, live_board}, {shadow_hidden, live_hidden}, {shadow_marks, live_marks}}) do
  if redis.call('EXISTS', pair[1]) == 1 then redis.call('RENAME', pair[1], pair[2]) else redis.call('DEL', pair[2]) end
end
for i = 9, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('RENAME', KEYS[i], KEYS[i + 1]) else redis.call('DEL', KEYS[i + 1]) end
end
redis.call('DEL', progress)
return {1}
