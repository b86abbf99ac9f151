// Atomic queue transitions. Each script touches the processing list, the lease set and
// one destination in one step, so a crash between steps can never lose or duplicate a
// message. They are registered once per connection with ioredis `defineCommand` (called
// by SHA; see redis-scripts.ts), never sent as a fresh EVAL per call.

/**
 * Done with a delivery. Fenced: only the delivery still in the processing list clears its
 * invocation from the inflight set; a stale worker (its lease reaped, the message queued
 * again) changes nothing. KEYS: processing, leases, inflight.
 * ARGV: raw, invocationId (empty for an unreadable message). Returns 1 when it held the message.
 */
export const ACK = `
local removed = redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 0 then return 0 end
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[3], ARGV[2]) end
return 1`;

/**
 * Renews the lease of a delivery a worker still works on. When Redis lost the queue's state
 * (a restart without its data) the delivery is registered again (processing list, lease,
 * inflight), so that recovery does not queue a second run of it; a delivery whose lease was
 * reaped (its invocation queued again: still inflight) is left alone.
 * KEYS: processing, leases, inflight. ARGV: raw, invocationId, leaseDeadlineMs, nowMs.
 * Returns 1 renewed, 2 registered again, 0 stale.
 */
export const RENEW_LEASE = `
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  return 1
end
if ARGV[2] == '' or redis.call('ZSCORE', KEYS[3], ARGV[2]) then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
return 2`;

/** Queues a message and records its invocation as held by the queue. KEYS: queue, inflight. ARGV: raw, invocationId, nowMs. */
export const ENQUEUE = `
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1`;

/** Queues a message again only if the queue does not hold its invocation. KEYS: queue, inflight. ARGV: raw, invocationId, nowMs. */
export const ENQUEUE_IF_LOST = `
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1`;

/** Puts a claimed message back at the front of the queue (taken next). KEYS: processing, leases, queue. ARGV: raw. */
export const RELEASE = `
local removed = redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 0 then return 0 end
redis.call('RPUSH', KEYS[3], ARGV[1])
return 1`;

/**
 * Moves a claimed message to the dead-letter list; the queue no longer holds its invocation.
 * Fenced like ACK: a delivery no longer in the processing list changes nothing.
 * KEYS: processing, leases, deadLetter, inflight. ARGV: raw, entry, invocationId. Returns 1 when moved.
 */
export const DEAD_LETTER = `
local removed = redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 0 then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[2])
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[4], ARGV[3]) end
return 1`;

/** Schedules a claimed message for later. KEYS: processing, leases, delayed. ARGV: raw, newRaw, dueAtMs. */
export const DELAY = `
local removed = redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if removed == 0 then return 0 end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1`;

/** Moves due delayed messages to the queue. KEYS: delayed, queue. ARGV: nowMs, max. */
export const PROMOTE_DUE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, raw in ipairs(due) do
  redis.call('ZREM', KEYS[1], raw)
  redis.call('LPUSH', KEYS[2], raw)
end
return #due`;

/**
 * Returns messages whose lease expired (their worker died) to the queue with attempt+1,
 * or to the dead-letter list after the last attempt. A message found in the processing
 * list without a lease (its worker died between BLMOVE and taking the lease) is given
 * one lease period of grace first.
 * KEYS: processing, leases, queue, deadLetter, inflight. ARGV: nowMs, leaseMs, maxAttempts.
 * Returns the dead-lettered raw messages (the caller marks their invocations failed).
 */
export const REAP = `
local now = tonumber(ARGV[1])
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local dead = {}
local requeued = 0
for _, raw in ipairs(items) do
  local deadline = redis.call('ZSCORE', KEYS[2], raw)
  if not deadline then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), raw)
  elseif tonumber(deadline) < now then
    redis.call('LREM', KEYS[1], 1, raw)
    redis.call('ZREM', KEYS[2], raw)
    local ok, msg = pcall(cjson.decode, raw)
    if ok and type(msg) == 'table' and type(msg['attempt']) == 'number' then
      if msg['attempt'] >= tonumber(ARGV[3]) then
        msg['error'] = 'lease expired on the last attempt: the worker running it stopped responding'
        msg['dead_lettered_at'] = now
        redis.call('LPUSH', KEYS[4], cjson.encode(msg))
        redis.call('ZREM', KEYS[5], msg['invocation_id'])
        table.insert(dead, raw)
      else
        msg['attempt'] = msg['attempt'] + 1
        redis.call('LPUSH', KEYS[3], cjson.encode(msg))
        requeued = requeued + 1
      end
    else
      redis.call('LPUSH', KEYS[4], cjson.encode({error = 'malformed message', raw = raw, dead_lettered_at = now}))
    end
  end
end
return {requeued, dead}`;

/**
 * Takes a concurrency slot for one invocation of a function, across all workers.
 * Slots whose holder died expire. Re-entrant for the same invocation.
 * KEYS: concurrency zset. ARGV: invocationId, max, nowMs, leaseMs. Returns 1 when taken.
 */
export const ACQUIRE_SLOT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) * 4)
return 1`;

/** Moves one dead letter back to the queue as a fresh message. KEYS: deadLetter, queue, inflight. ARGV: entry, message, invocationId, nowMs. */
export const REDRIVE_ONE = `
local removed = redis.call('LREM', KEYS[1], 1, ARGV[1])
if removed == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
return 1`;
