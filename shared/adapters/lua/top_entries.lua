-- A page of the board, best first, with the board's size, in one round trip.
-- KEYS[1] board sorted set; ARGV[1] first index (0-based); ARGV[2] last index (inclusive);
-- ARGV[3], optional: the board codec's slots (2^R), to also count the players ahead of the page.
-- Returns {member count, {member, score, member, score, ...}} and, with ARGV[3] and a non-empty page,
-- a third element: the players with strictly more points than the page's first entry.
-- Scores stay strings to keep 53 bits.
local board = KEYS[1]
local page = redis.call('ZREVRANGE', board, ARGV[1], ARGV[2], 'WITHSCORES')
local reply = {redis.call('ZCARD', board), page}
if ARGV[3] and page[2] then
  reply[3] = players_ahead(board, page[2], tonumber(ARGV[3]))
end
return reply
