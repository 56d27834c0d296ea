-- Shared by the read scripts, which load it in front of their own text.
-- How many players on `board` have strictly more points than `score` holds, for a board whose codec
-- has `slots` (2^R) scores per point: ZCOUNT from the lowest score of points + 1, with no scan.
-- Every score is below 2^53, so the arithmetic is exact in a double; '%.17g' keeps every digit.
local function players_ahead(board, score, slots)
  local points = math.floor(tonumber(score) / slots)
  return redis.call('ZCOUNT', board, string.format('%.17g', (points + 1) * slots), '+inf')
end
