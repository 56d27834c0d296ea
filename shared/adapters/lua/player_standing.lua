-- A player's rank and score with the players around them, in one round trip.
-- KEYS[1] board sorted set; ARGV[1] user id; ARGV[2] how many neighbours on each side;
-- ARGV[3], optional: the board codec's slots (2^R), to also count the players ahead of the first neighbour.
-- Returns {member count} when the player has no score, else
-- {member count, 0-based rank, index of the first neighbour, {member, score, ...}} (the player among
-- them) and, with ARGV[3], a fifth element: the players with strictly more points than the first neighbour.
local board = KEYS[1]
local total = redis.call('ZCARD', board)
local rank = redis.call('ZREVRANK', board, ARGV[1])
if not rank then
  return {total}
end
local around = tonumber(ARGV[2])
local first = rank - around
if first < 0 then first = 0 end
local neighbours = redis.call('ZREVRANGE', board, first, rank + around, 'WITHSCORES')
local reply = {total, rank, first, neighbours}
if ARGV[3] then
  reply[5] = players_ahead(board, neighbours[2], tonumber(ARGV[3]))
end
return reply
