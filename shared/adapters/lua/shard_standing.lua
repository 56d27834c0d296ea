-- Where a player stands within one shard of a sharded board, with the shard's members around that place.
-- KEYS[1] one shard's sorted set; ARGV[1] the player's score (an integer); ARGV[2] the player's user id;
-- ARGV[3] how many neighbours on each side.
-- The player need not be in this shard: the place is where the player would sort in it.
-- Returns {member count, members ahead of the place, index of the first member returned,
-- {member, score, ...}}: up to ARGV[3] members just ahead of the place and ARGV[3] + 1 from it on.
local shard, score, user = KEYS[1], ARGV[1], ARGV[2]
local around = tonumber(ARGV[3])

-- Equal scores sort by member bytes, the larger first under ZREVRANGE. Compared byte by byte here,
-- since Lua's own string comparison follows the server's locale.
local function sorts_before(member, other)
  local shorter = math.min(#member, #other)
  for i = 1, shorter do
    local a, b = string.byte(member, i), string.byte(other, i)
    if a ~= b then return a > b end
  end
  return #member > #other
end

local higher = redis.call('ZCOUNT', shard, '(' .. score, '+inf')
local equal = redis.call('ZCOUNT', shard, score, score)
-- Members with the same score sit at [higher, higher + equal): find, by halving, how many sort before the user.
local low, high = higher, higher + equal
while low < high do
  local middle = math.floor((low + high) / 2)
  if sorts_before(redis.call('ZREVRANGE', shard, middle, middle)[1], user) then
    low = middle + 1
  else
    high = middle
  end
end
local first = low - around
if first < 0 then first = 0 end
return {redis.call('ZCARD', shard), low, first, redis.call('ZREVRANGE', shard, first, low + around, 'WITHSCORES')}
