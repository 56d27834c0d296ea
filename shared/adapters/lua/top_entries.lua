-- A page of the board, best first, with the board's size, in one round trip.
-- KEYS[1] board sorted set; ARGV[1] first index (0-based); ARGV[2] last index (inclusive)
-- Returns {member count, {member, score, member, score, ...}}; scores stay strings to keep 53 bits.
local board = KEYS[1]
return {
  redis.call('ZCARD', board),
  redis.call('ZREVRANGE', board, ARGV[1], ARGV[2], 'WITHSCORES'),
}
