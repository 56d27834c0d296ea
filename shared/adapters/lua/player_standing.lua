-- A player's rank and score with the players around them, in one round trip.
-- KEYS[1] board sorted set; ARGV[1] user id; ARGV[2] how many neighbours on each side
-- Returns {member count} when the player has no score, else
-- {member count, 0-based rank, score, index of the first neighbour, {member, score, ...}}.
local board = KEYS[1]
local total = redis.call('ZCARD', board)
local rank = redis.call('ZREVRANK', board, ARGV[1])
if not rank then
  return {total}
end
local around = tonumber(ARGV[2])
local first = rank - around
if first < 0 then first = 0 end
return {
  total,
  rank,
  redis.call('ZSCORE', board, ARGV[1]),
  first,
  redis.call('ZREVRANGE', board, first, rank + around, 'WITHSCORES'),
}
