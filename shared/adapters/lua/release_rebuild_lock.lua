-- Release a board rebuild's lock, only if it is still this run's.
-- KEYS[1] the lock; ARGV[1] the run's token. Returns 1 when released, 0 when it was not this run's.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
