import { randomUUID } from 'node:crypto';
import type { ChainableCommander, default as Redis } from 'ioredis';
import type { Decision, DecisionQuery, Outcome } from '../audit/schema';
import { NudgeError, redactUrl } from '../errors';
import type { Profile } from '../profiles/schema';
import { inQueryOrder, matchesQuery, queryLimit } from './matchDecision';
import type { ModelActivation, ModelVersionInfo } from './models';
import { checkArmDeltas } from './armStats';
import { reconnectDelayMs } from './connection';
import { ARM_STAT_FIELDS, ArmStats, CapCounter, CapReservation, CapVerdict, ContactErasure, ErasureCounts, INACTIVITY_QUEUE, KeyClaim, LeasedTimer, LockedProfiles, noCounters, ProfileLockRequest, PruneTarget, ReadRecords, RecordReads, RETENTION_BATCH, Store, StoredTimer, TakeIn, TimerQueue, queuePrefix, storedQueue, timerQueue, waitQueue } from './types';
import { timerIsFor } from './erasure';
import { DecisionFilter, DecisionSummary, FactCounter, FactKey, factsOf, matchesFilter, SummaryPage, summaryOf } from './decisionFacts';
import { NamedRecords } from './records';
import { readSendHours, sendHoursIn, sendTimeKeys } from './sendHours';

export interface RedisStoreOptions {
	/** Every key starts with this (default `nudge:`), so several deployments or test runs share one Redis. */
	prefix?: string;
	/** How many times a command is retried while the connection is down before it fails (default 3). */
	maxRetriesPerRequest?: number;
}

/**
 * A claim's value is when it frees; it is free at \`now\` when unset or past that time. Every script that claims uses
 * this one test (claimKey, the cap check's send key, an event's lease, identity locks).
 */
const FREE_FN = `
local function free(key, now)
  local until_ = tonumber(redis.call('GET', key))
  return until_ == nil or until_ <= tonumber(now)
end
`;
/**
 * The cap check in one round trip, with the semantics of capMatch.ts. The contact's ledger is a hash
 * reservationId → "p|json" (pending) or "c|json" (committed); counters arrive as JSON. Returns
 * [ok, counts…, freesAt… (-1 = none)]. Expired pending entries stay (uncounted) until settled.
 * An empty reservation id (ARGV[3]) only counts: peekCap's read-only look, in the same round trip.
 * ARGV[6], when not empty, is the reservation's keepSince: entries made before it are deleted as they are read,
 * with a pending one's reservation key (ARGV[7] is the key prefix), so the hash holds only what can still count.
 */
const RESERVE_STEP = `
local counters = cjson.decode(ARGV[1])
local now = tonumber(ARGV[2])
local keepSince = tonumber(ARGV[6])
local n = #counters
local entries = {}
local raw = redis.call('HGETALL', KEYS[1])
for i = 1, #raw, 2 do
  local v = raw[i + 1]
  local e = cjson.decode(string.sub(v, 3))
  e.committed = string.sub(v, 1, 1) == 'c'
  if keepSince ~= nil and e.at < keepSince then
    redis.call('HDEL', KEYS[1], raw[i])
    if not e.committed then redis.call('DEL', ARGV[7] .. raw[i]) end
  else
    entries[#entries + 1] = e
  end
end
local function has(tags, t)
  for _, x in ipairs(tags) do if x == t then return true end end
  return false
end
local function counts(e, c)
  if e.at < c.since then return false end
  if (not e.committed) and e.expiresAt <= now then return false end
  local m = c.match
  if m.channel ~= nil and e.channel ~= m.channel then return false end
  if m.journey ~= nil and e.journey ~= m.journey then return false end
  if m.tag ~= nil and not has(e.tags, m.tag) then return false end
  for _, t in ipairs(c.excludeTags) do if has(e.tags, t) then return false end end
  return true
end
local tally = {}
local frees = {}
local full = 0
for i = 1, n do
  local c = counters[i]
  local times = {}
  for _, e in ipairs(entries) do if counts(e, c) then times[#times + 1] = e.at end end
  tally[i] = #times
  frees[i] = -1
  if #times >= c.limit then
    if full == 0 then full = i end
    if c.lengthMs ~= nil then
      table.sort(times)
      local t = times[#times - c.limit + 1]
      if t then frees[i] = t + c.lengthMs end
    end
  end
end
local reserved = full == 0 and reserving
if reserved then
  redis.call('HSET', KEYS[1], ARGV[3], 'p|' .. ARGV[4])
  redis.call('SET', KEYS[2], ARGV[5])
end
local out = { full == 0 and 1 or 0 }
for i = 1, n do out[#out + 1] = tally[i] end
for i = 1, n do out[#out + 1] = frees[i] end
`;
const RESERVE_LUA = `local reserving = ARGV[3] ~= '' ${RESERVE_STEP} return out`;
/**
 * The cap check, and when it reserved, a claim (CLAIM_LUA's values) on KEYS[3] at the reservation's time: ARGV[8] until,
 * ARGV[9] ttl; ARGV[10] '1': the key only looked at. A key held already reserves nothing (a look: an erasure holds the
 * keys of the person's open decisions, and nothing may be written under their id after it). Returns the cap check's
 * answer with 1 (claimed) or 0, then 1 (held) or 0, appended.
 */
const RESERVE_AND_CLAIM_LUA = `${FREE_FN} local held = not free(KEYS[3], ARGV[2]) local reserving = ARGV[3] ~= '' and not held ${RESERVE_STEP}
local claimed = 0
if reserved and ARGV[10] ~= '1' then
  redis.call('SET', KEYS[3], ARGV[8], 'PX', ARGV[9])
  claimed = 1
end
out[#out + 1] = claimed
out[#out + 1] = held and 1 or 0
return out
`;

/**
 * Settles a reservation into `settled` (1 when it was pending). KEYS[1] = reservation → contact key; ARGV = ledger
 * key prefix, outcome, reservation id.
 */
const SETTLE_STEP = `
local settled = 0
local contact = redis.call('GET', KEYS[1])
if contact then
  local ledger = ARGV[1] .. contact
  local id = ARGV[3]
  local v = redis.call('HGET', ledger, id)
  redis.call('DEL', KEYS[1])
  if v and string.sub(v, 1, 1) == 'p' then
    if ARGV[2] == 'commit' then redis.call('HSET', ledger, id, 'c' .. string.sub(v, 2)) else redis.call('HDEL', ledger, id) end
    settled = 1
  end
end
`;
const SETTLE_LUA = `${SETTLE_STEP} return settled`;

/** KEYS[1] claimed until ARGV[2] (PX ARGV[3]) when free at ARGV[1]: 1, else 0. */
const CLAIM_LUA = `${FREE_FN}
if not free(KEYS[1], ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`;

const CURSOR_LUA = `
local v = redis.call('GET', KEYS[1])
if ARGV[2] == '0' then
  if v then return 0 end
elseif v ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`;

/**
 * Timers: KEYS[1] is a sorted set timerId → when it is next takeable (its due time, or the end of its
 * lease), KEYS[2] a hash timerId → "dueAt|lease|body" (lease empty until taken). Taking leases due
 * timers atomically (each to exactly one taker) by moving them to now + lease (leased ones leave the due range,
 * so the next page starts after those skipped); acknowledging deletes a timer only while the lease is still the
 * taker's. ARGV[5], when not empty, takes only one journey's inactivity timers (TimerQueue inactivityQueue): those
 * whose body holds it (types.ts journeyFragment).
 */
const TAKE_TIMERS_LUA = `
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local only = ARGV[5]
local out = {}
local taken = 0
-- Pages by score: from the last page's last score, past the timers at that score left there (skipped; those taken
-- moved past now), so the walk is linear however many are skipped.
local min = '-inf'
local skippedAtMin = 0
while taken < limit do
  local page = redis.call('ZRANGEBYSCORE', KEYS[1], min, now, 'WITHSCORES', 'LIMIT', skippedAtMin, 500)
  if #page == 0 then break end
  local last = min
  local skippedAtLast = skippedAtMin
  for i = 1, #page, 2 do
    local id = page[i]
    if page[i + 1] ~= last then
      last = page[i + 1]
      skippedAtLast = 0
    end
    local v = redis.call('HGET', KEYS[2], id) or '0||'
    local a = string.find(v, '|', 1, true)
    local b = string.find(v, '|', a + 1, true)
    if only == '' or string.find(v, only, b + 1, true) then
      taken = taken + 1
      local lease = ARGV[4] .. ':' .. taken
      redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), id)
      redis.call('HSET', KEYS[2], id, string.sub(v, 1, a) .. lease .. string.sub(v, b))
      out[#out + 1] = id
      out[#out + 1] = string.sub(v, 1, a - 1)
      out[#out + 1] = string.sub(v, b + 1)
      out[#out + 1] = lease
      if taken >= limit then break end
    else
      skippedAtLast = skippedAtLast + 1
    end
  end
  if last == min then skippedAtMin = skippedAtLast else min, skippedAtMin = last, skippedAtLast end
end
return out
`;

const ACK_TIMER_LUA = `
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return 0 end
local a = string.find(v, '|', 1, true)
local b = string.find(v, '|', a + 1, true)
if string.sub(v, a + 1, b - 1) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;

const CANCEL_TIMER_LUA = `
local n = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return n
`;

/**
 * Appends to \`out\` the counts of the arm hashes named in ARGV[at + 1] (packArmKeys: each key as "<bytes>:<key>"),
 * under the prefix ARGV[at], as one string: per key, in order and ";"-separated, the ARM_STAT_FIELDS (HMGET)
 * ","-separated, or "" when the hash does not exist. A decision reads about 60 counts (48 are the send time's
 * hours): one argument and one reply string instead of 60 keys and 60 five-element replies took 5–9% off the
 * worker's CPU per decision on Redis (bench/scale). The keys are not declared: Redis Cluster is not supported.
 */
const readArmsStep = (at: number) => `
local list, prefix, pos, found = ARGV[${at + 1}], ARGV[${at}], 1, {}
while pos <= #list do
  local colon = string.find(list, ':', pos, true)
  local stop = colon + tonumber(string.sub(list, pos, colon - 1))
  local v = redis.call('HMGET', prefix .. string.sub(list, colon + 1, stop), ${ARM_STAT_FIELDS.map((f) => `'${f}'`).join(', ')})
  local any = false
  for f = 1, #v do if v[f] then any = true else v[f] = '' end end
  found[#found + 1] = any and table.concat(v, ',') or ''
  pos = stop + 1
end
out[#out + 1] = table.concat(found, ';')
`;
/**
 * How long a take-in remembers that it ran, for a step sent again: longer than the lease has left (it may have run
 * out the moment after), and than ioredis takes to give up on a command (maxRetriesPerRequest reconnections).
 */
const RESENT_WITHIN_MS = 60_000;
/**
 * The end of an event's take-in (finishTakeIn), as a script's step reading ARGV from `at` (takeInArgs): the mark (mark,
 * lease, until, ttl, the value the lease was claimed with or '' to let it go as it is, the mark's now; '' for no
 * mark), then the profile's save: its count of locks, the locks, the value they were taken with, its count of merged
 * profiles, their keys, its count of keys to set, the profile and its identities each with its value. Only while
 * every lock holds that value, and the lease its own (or, run out, no other delivery has taken the event since: no
 * lease and no mark), are the locks and merged profiles deleted, the keys set, the mark set to `until` for `ttl` ms
 * and the lease let go: a fenced lease is left holding its value negated (free to any claim) for RESENT_WITHIN_MS,
 * so a step sent again (ioredis resends a command whose reply a dropped connection lost) knows it ran; without a
 * lease, one that finds the locks gone and the profile as it wrote it does (another delivery of the same event may
 * write the same profile: the lease tells them apart). `took_in` says whether. A profile's save alone has no mark.
 * The keys are arguments, undeclared like the arm hashes'.
 */
const takeInStep = (at: number) => `
local took_in = true
do
  local value = ${at} + 7 + tonumber(ARGV[${at} + 6])
  local merged = value + 1
  local sets = merged + 1 + tonumber(ARGV[merged])
  local lease = ARGV[${at} + 4]
  for i = ${at} + 7, value - 1 do
    if redis.call('GET', ARGV[i]) ~= ARGV[value] then took_in = false end
  end
  local held = lease ~= '' and redis.call('GET', ARGV[${at} + 1])
  if lease ~= '' and held ~= lease then
    local marked = tonumber(redis.call('GET', ARGV[${at}]))
    if held or (marked and marked > tonumber(ARGV[${at} + 5])) then took_in = false end
  end
  if took_in then
    for i = ${at} + 7, value - 1 do redis.call('DEL', ARGV[i]) end
    for i = merged + 1, sets - 1 do redis.call('DEL', ARGV[i]) end
    for i = sets + 1, sets + 2 * tonumber(ARGV[sets]), 2 do redis.call('SET', ARGV[i], ARGV[i + 1]) end
    if ARGV[${at}] ~= '' then
      redis.call('SET', ARGV[${at}], ARGV[${at} + 2], 'PX', ARGV[${at} + 3])
      if lease == '' then redis.call('DEL', ARGV[${at} + 1])
      else redis.call('SET', ARGV[${at} + 1], '-' .. lease, 'PX', ${RESENT_WITHIN_MS}) end
    end
  elseif lease ~= '' then
    took_in = redis.call('GET', ARGV[${at} + 1]) == '-' .. lease
  elseif tonumber(ARGV[sets]) > 0 and redis.call('GET', ARGV[sets + 1]) == ARGV[sets + 2] then
    took_in = true
  end
end
`;
const FINISH_TAKE_IN_LUA = `${takeInStep(1)} return took_in and 1 or 0`;
/**
 * The learner's counts of every key in one round trip (ARGV[1] is the arm hashes' prefix, ARGV[2] their keys), then a
 * take-in's end from ARGV[3] (none: takeInArgs()). Writes last: an error in a script does not undo what it wrote, so a
 * read that fails leaves the take-in to the caller's retry whole.
 */
const GET_ARMS_LUA = `local out = {} ${readArmsStep(1)} ${takeInStep(3)} out[#out + 1] = took_in and 1 or 0 return out`;
/** Where the look's arm hashes start in ARGV: after RESERVE_STEP's seven arguments. */
const PEEK_ARMS_ARG = 8;
/**
 * Choose Channel's look: the cap check without a reservation (KEYS[1…2], ARGV as RESERVE_STEP), the arm hashes
 * (ARGV[PEEK_ARMS_ARG…]), then, last as in GET_ARMS_LUA, a take-in's end (the one-call journey's profile save and
 * event mark; none: takeInArgs()) from ARGV[PEEK_ARMS_ARG + 2].
 */
const PEEK_AND_ARMS_LUA = `local reserving = false ${RESERVE_STEP} ${readArmsStep(PEEK_ARMS_ARG)} ${takeInStep(PEEK_ARMS_ARG + 2)} out[#out + 1] = took_in and 1 or 0 return out`;

/**
 * Adds the deltas to the arm hashes KEYS[from…] (ARGV[skip + …]: one per ARM_STAT_FIELDS field, key after key) in one
 * atomic step; concurrent writers add up.
 */
const addArmsStep = (from: number, skip: number) => `
local fields = {${ARM_STAT_FIELDS.map((f) => `'${f}'`).join(', ')}}
for i = ${from}, #KEYS do
  for f, field in ipairs(fields) do
    local delta = ARGV[${skip} + (i - ${from}) * #fields + f]
    -- A trial adds to one field of five: the others are left alone (an absent field reads as 0).
    if tonumber(delta) ~= 0 then redis.call('HINCRBYFLOAT', KEYS[i], field, delta) end
  end
end
`;
const ADD_ARMS_LUA = `${addArmsStep(1, 0)} return 1`;
/** A send's cap settlement and the learner's trials, one step: KEYS[1] and ARGV[1…3] as SETTLE_STEP, then arm keys and deltas. */
const SETTLE_AND_COUNT_LUA = `${SETTLE_STEP} ${addArmsStep(2, 3)} return settled`;

/** An event's lease unless its mark is held (CLAIM_LUA's values): KEYS[1…2] = lease, mark; ARGV[1…4] = now, until, ttl, the mark's clock. */
const CLAIM_UNLESS_MARKED_STEP = `
local claim = 'claimed'
if not free(KEYS[2], ARGV[4]) then claim = 'marked'
elseif not free(KEYS[1], ARGV[1]) then claim = 'held'
else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
`;
const CLAIM_UNLESS_MARKED_LUA = `${FREE_FN} ${CLAIM_UNLESS_MARKED_STEP} return claim`;
/** Deletes KEYS[1] while it holds ARGV[1] (releaseKey's heldAs). */
const RELEASE_IF_HELD_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 0`;


/**
 * Identity locks, then what a profile update reads: lockAndRead(k, a) reads KEYS after the first k (lock keys, identity
 * keys, cursor keys, then claim keys) and ARGV after the first a (lock count, now, until, ttl, profile key prefix,
 * contact id: '' for none, identity key count, cursor count, contact lock prefix: '' for none). With a contact lock
 * prefix, the lock of the contact id and of every contact an identity names is taken too (all or none with the
 * others: updates of one contact by different identities share one). Nil when a lock is held (nothing claimed); else each
 * identity key's contact id ('' when unknown), each cursor's value ('' when unset), each claim's '1' when held ('' when
 * free), then contact id and profile JSON ('' when none) for the contact id and each contact named.
 */
const LOCK_AND_READ_FN = `
local function lockAndRead(k, a)
  local n = tonumber(ARGV[a + 1])
  for i = k + 1, k + n do
    if not free(KEYS[i], ARGV[a + 2]) then return nil end
  end
  for i = k + 1, k + n do redis.call('SET', KEYS[i], ARGV[a + 3], 'PX', ARGV[a + 4]) end
  local out = {}
  local ids = {}
  local seen = {}
  local function named(id)
    if not seen[id] then seen[id] = true ids[#ids + 1] = id end
  end
  if ARGV[a + 6] ~= '' then named(ARGV[a + 6]) end
  local identities = k + n + tonumber(ARGV[a + 7])
  local cursors = identities + tonumber(ARGV[a + 8])
  for i = k + n + 1, identities do
    local id = redis.call('GET', KEYS[i])
    out[#out + 1] = id or ''
    if id then named(id) end
  end
  if ARGV[a + 9] ~= '' then
    local mine, taken = {}, {}
    for i = k + 1, k + n do mine[KEYS[i]] = true end
    for _, id in ipairs(ids) do
      local key = ARGV[a + 9] .. id
      if not mine[key] then
        if not free(key, ARGV[a + 2]) then
          for i = k + 1, k + n do redis.call('DEL', KEYS[i]) end
          for _, t in ipairs(taken) do redis.call('DEL', t) end
          return nil
        end
        redis.call('SET', key, ARGV[a + 3], 'PX', ARGV[a + 4])
        mine[key] = true
        taken[#taken + 1] = key
      end
    end
  end
  for i = identities + 1, cursors do out[#out + 1] = redis.call('GET', KEYS[i]) or '' end
  for i = cursors + 1, #KEYS do out[#out + 1] = free(KEYS[i], ARGV[a + 2]) and '' or '1' end
  for _, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = redis.call('GET', ARGV[a + 5] .. id) or ''
  end
  return out
end
`;
const LOCK_AND_READ_LUA = `${FREE_FN} ${LOCK_AND_READ_FN} return lockAndRead(0, 0) or false`;
/**
 * An event's lease unless marked (KEYS[1…2], ARGV[1…4] as CLAIM_UNLESS_MARKED_STEP), then, when it claimed, the
 * identity locks and the profile read (lockAndRead(2, 4)): { claim } or { 'claimed', what lockAndRead read }.
 */
const CLAIM_AND_LOCK_LUA = `${FREE_FN} ${CLAIM_UNLESS_MARKED_STEP} ${LOCK_AND_READ_FN}
if claim ~= 'claimed' then return { claim } end
local read = lockAndRead(2, 4)
if not read then return { claim } end
return { claim, read }
`;

/**
 * KEYS: decision body, global outcome ids, decision's outcome list. ARGV: outcome id, outcome JSON, its other spelling
 * ('' none), looked for in the decision's list only when some decision has it (the set answers most calls at once).
 */
const ADD_OUTCOME_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[3] ~= '' and redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 1 then
  for _, o in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    if cjson.decode(o).outcomeId == ARGV[3] then return 0 end
  end
end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
`;

/** KEYS: versions hash. Returns the new version number. */
const SAVE_MODEL_LUA = `
local v = redis.call('HLEN', KEYS[1]) + 1
redis.call('HSET', KEYS[1], v, ARGV[1])
return v
`;

/**
 * KEYS: versions hash, active key, log list. ARGV: version, log entry JSON, the active version expected ('' none,
 * '*' any). Log items are "previous|json".
 */
const ACTIVATE_MODEL_LUA = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local prev = redis.call('GET', KEYS[2]) or ''
if ARGV[3] ~= '*' and prev ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], prev .. '|' .. ARGV[2])
return 1
`;

/**
 * A contact's hot state in one step. KEYS: profile, cap ledger, then ARGV[3] identity keys (deleted while they still
 * name the contact), then claim and learner keys (deleted). ARGV: contact id, reservation key prefix, identity count.
 * Returns [profiles, identities, ledger entries] removed.
 */
const ERASE_STATE_LUA = `
local profiles = redis.call('DEL', KEYS[1])
local entries = redis.call('HKEYS', KEYS[2])
for _, id in ipairs(entries) do redis.call('DEL', ARGV[2] .. id) end
redis.call('DEL', KEYS[2])
local n = tonumber(ARGV[3])
local identities = 0
for i = 3, 2 + n do
  if redis.call('GET', KEYS[i]) == ARGV[1] then identities = identities + redis.call('DEL', KEYS[i]) end
end
for i = 3 + n, #KEYS do redis.call('DEL', KEYS[i]) end
return { profiles, identities, #entries }
`;

/**
 * Merged contacts' ledgers into the surviving contact's: KEYS[1] its ledger; ARGV: the ledger key prefix, the
 * reservation key prefix, its contact id, then the merged contacts' ids. Each entry is moved (one already there is
 * kept) and a pending one's reservation pointed at the survivor, so it settles there. Returns how many moved.
 */
const MOVE_LEDGER_LUA = `
local moved = 0
for i = 4, #ARGV do
  local from = ARGV[1] .. ARGV[i]
  if from ~= KEYS[1] then
    local raw = redis.call('HGETALL', from)
    for j = 1, #raw, 2 do
      redis.call('HSETNX', KEYS[1], raw[j], raw[j + 1])
      if string.sub(raw[j + 1], 1, 1) == 'p' then redis.call('SET', ARGV[2] .. raw[j], ARGV[3]) end
      moved = moved + 1
    end
    redis.call('DEL', from)
  end
end
return moved
`;

/**
 * Retention of one contact's cap ledger: KEYS[1] the ledger; ARGV: before (epoch ms), reservation key prefix,
 * '1' to count only. Deletes the entries made before `before` (and their reservation index); returns how many.
 */
const PRUNE_LEDGER_LUA = `
local before = tonumber(ARGV[1])
local raw = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #raw, 2 do
  if cjson.decode(string.sub(raw[i + 1], 3)).at < before then
    n = n + 1
    if ARGV[3] ~= '1' then
      redis.call('HDEL', KEYS[1], raw[i])
      redis.call('DEL', ARGV[2] .. raw[i])
    end
  end
end
return n
`;

/**
 * Retention of claims: KEYS a page of claim keys; ARGV: before, '1' to count only. Deletes those that expired before
 * `before`, and, uncounted, every let-go lease (its value negated: takeInStep; Redis would drop it within a minute).
 */
const PRUNE_CLAIMS_LUA = `
local n = 0
for _, key in ipairs(KEYS) do
  local until_ = tonumber(redis.call('GET', key))
  if until_ ~= nil and until_ < 0 then
    if ARGV[2] ~= '1' then redis.call('DEL', key) end
  elseif until_ ~= nil and until_ < tonumber(ARGV[1]) then
    n = n + 1
    if ARGV[2] ~= '1' then redis.call('DEL', key) end
  end
end
return n
`;

/** A claim's time to live for Redis's PX: whole milliseconds, at least one. */
const ttlPx = (ttlMs: number) => Math.max(1, Math.ceil(ttlMs));

/** Counters for the cap script (cjson turns an empty array into an empty object; Lua iterates both alike). */
function countersJson(counters: CapCounter[]): string {
	return JSON.stringify(counters.map((c) => ({ ...c, match: { ...c.match }, excludeTags: c.excludeTags })));
}

/** The cap script's answer [ok, counts…, freesAt… (-1 = none)] → a verdict. */
function verdictOf(out: number[], counters: CapCounter[]): CapVerdict {
	const n = counters.length;
	const counts = out.slice(1, 1 + n).map(Number);
	const freesAt = out.slice(1 + n, 1 + 2 * n).map((v) => (Number(v) < 0 ? undefined : Number(v)));
	if (out[0] === 1) return { ok: true, counts, freesAt };
	const full = counters.findIndex((c, i) => counts[i] >= c.limit);
	return { ok: false, counts, bindingRuleId: counters[full].ruleId, freesAt };
}

/** lockAndRead's answer → the identities known and the profiles found. */
function lockedProfilesOf(lock: Pick<ProfileLockRequest, 'identityKeys' | 'reads'>, out: string[]): LockedProfiles {
	const { identityKeys, reads } = lock;
	const identities = new Map<string, string>();
	identityKeys.forEach((key, i) => out[i] && identities.set(key, out[i]));
	let at = identityKeys.length;
	let records: ReadRecords | undefined;
	if (reads) {
		records = { cursors: new Map(), claims: new Set() };
		for (const name of reads.cursors) if (out[at++]) records.cursors.set(name, out[at - 1]);
		for (const key of reads.claims) if (out[at++]) records.claims.add(key);
	}
	const profiles = new Map<string, Profile>();
	for (let i = at; i < out.length; i += 2) if (out[i + 1]) profiles.set(out[i], JSON.parse(out[i + 1]) as Profile);
	return records ? { identities, profiles, records } : { identities, profiles };
}

/** The keys as readArmsStep reads them: each as its length in UTF-8 bytes, ":", the key (any character may be in a key). */
function packArmKeys(keys: string[]): string {
	let packed = '';
	for (const key of keys) packed += `${Buffer.byteLength(key)}:${key}`;
	return packed;
}

/**
 * readArmsStep's reply → key → counts, for the keys that exist (an absent field reads as 0). Nudge writes only
 * numbers there (HINCRBYFLOAT); a "," or ";" written into a count by something else would shift the counts read, so
 * a reply of the wrong shape is refused instead of read.
 */
function armStatsOf(keys: string[], reply: string): Map<string, ArmStats> {
	const found = new Map<string, ArmStats>();
	if (!keys.length) return found;
	const each = reply.split(';');
	const refuse = () => new Error(`the learner statistics read hold a value that is not a number (one of ${keys.length} keys, ${keys[0]}…): a learner hash under this store's prefix was written by something other than Nudge`);
	if (each.length !== keys.length) throw refuse();
	for (let i = 0; i < keys.length; i++) {
		if (!each[i]) continue;
		const v = each[i].split(',');
		if (v.length !== ARM_STAT_FIELDS.length) throw refuse();
		found.set(keys[i], { trials: Number(v[0]), successes: Number(v[1]), negatives: Number(v[2]), valueSum: Number(v[3]), valueSq: Number(v[4]) });
	}
	return found;
}

/**
 * KEYS: a wait queue's bodies hash as earlier versions named it (`wait:<journey>-bodies`), its key now
 * (`wait-bodies:<journey>`). Moves the bodies over (one already under the new key wins) when the old key is a hash:
 * the old name is also the sorted set of a journey named "<journey>-bodies", left alone.
 */
const MOVE_WAIT_BODIES_LUA = `
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do redis.call('HSETNX', KEYS[2], all[i], all[i + 1]) end
redis.call('DEL', KEYS[1])
return 1
`;

/** A MULTI's replies, or the first command's error: Redis runs the rest of a MULTI after one fails, and exec() resolves. */
async function execAll(tx: ChainableCommander): Promise<[Error | null, unknown][]> {
	const replies = await tx.exec();
	if (!replies) throw new Error('the transaction was discarded');
	for (const [error] of replies) if (error) throw error;
	return replies;
}

const SCRIPTS = {
	nudgeMoveWaitBodies: { keys: 2, lua: MOVE_WAIT_BODIES_LUA },
	nudgeReserve: { keys: 2, lua: RESERVE_LUA },
	nudgeReserveAndClaim: { keys: 3, lua: RESERVE_AND_CLAIM_LUA },
	nudgeSettle: { keys: 1, lua: SETTLE_LUA },
	nudgeClaim: { keys: 1, lua: CLAIM_LUA },
	nudgeCursor: { keys: 1, lua: CURSOR_LUA },
	nudgeTakeTimers: { keys: 2, lua: TAKE_TIMERS_LUA },
	nudgeCancelTimer: { keys: 2, lua: CANCEL_TIMER_LUA },
	nudgeAckTimer: { keys: 2, lua: ACK_TIMER_LUA },
	nudgeAddOutcome: { keys: 3, lua: ADD_OUTCOME_LUA },
	nudgeSaveModel: { keys: 1, lua: SAVE_MODEL_LUA },
	nudgeActivateModel: { keys: 3, lua: ACTIVATE_MODEL_LUA },
	nudgeGetArms: { keys: 0, lua: GET_ARMS_LUA },
	nudgePeekAndArms: { keys: 2, lua: PEEK_AND_ARMS_LUA },
	// Any number of keys: the call passes the count first.
	nudgeAddArms: { keys: undefined, lua: ADD_ARMS_LUA },
	nudgeEraseState: { keys: undefined, lua: ERASE_STATE_LUA },
	nudgePruneLedger: { keys: 1, lua: PRUNE_LEDGER_LUA },
	nudgeMoveLedger: { keys: 1, lua: MOVE_LEDGER_LUA },
	nudgePruneClaims: { keys: undefined, lua: PRUNE_CLAIMS_LUA },
	nudgeClaimUnlessMarked: { keys: 2, lua: CLAIM_UNLESS_MARKED_LUA },
	nudgeReleaseIfHeld: { keys: 1, lua: RELEASE_IF_HELD_LUA },
	nudgeFinishTakeIn: { keys: 0, lua: FINISH_TAKE_IN_LUA },
	nudgeLockAndRead: { keys: undefined, lua: LOCK_AND_READ_LUA },
	nudgeClaimAndLock: { keys: undefined, lua: CLAIM_AND_LOCK_LUA },
	nudgeSettleAndCount: { keys: undefined, lua: SETTLE_AND_COUNT_LUA },
} as const;

type ScriptName = keyof typeof SCRIPTS;
/** The namespace of wait queues' bodies hashes: `wait-bodies:<journey>` (timerKeys). */
const WAIT_BODIES = 'wait-bodies';
type Scripted = Redis & Record<ScriptName, (...args: (string | number)[]) => Promise<unknown>>;

/**
 * A shared store on Redis (`redis://host:port/db`), for several n8n workers or Node-RED instances.
 * Every multi-key step is one Lua script, so it is atomic across processes: a cap check reads the
 * contact's ledger, evaluates every counter and reserves in one round trip; each due timer is removed
 * by exactly one taker. Writes are applied by Redis when the promise resolves, so `sync()` is
 * immediate (durability is Redis's own: use appendonly with fsync everysec or always).
 *
 * Cluster mode is not supported (scripts touch keys of one contact and its reservation index).
 */
export class RedisStore extends NamedRecords implements Store {
	readonly kind = 'redis';
	readonly shared = true;
	readonly readsRecordsWithLocks = true;
	readonly foldsTakeIn = true;
	private readonly redis: Scripted;
	readonly prefix: string;
	private readonly where: string;
	private closed = false;
	private lastConnectionError?: string;
	/** Earlier versions' wait bodies moved (timerLayout); undefined until the first timer step, or after it failed. */
	private timersMoved?: Promise<void>;

	/** `url` is `redis://[user:password@]host:port[/db][?prefix=nudge:]` (`rediss://` for TLS). */
	constructor(url: string, options: RedisStoreOptions = {}) {
		super();
		const parsed = new URL(url);
		this.prefix = options.prefix ?? parsed.searchParams.get('prefix') ?? 'nudge:';
		parsed.searchParams.delete('prefix');
		this.where = redactUrl(url);
		// Loaded on first use, not when a node loads: a node that never uses it does not pay for it (docs/benchmarks.md, bench/load).
		const { default: IORedis } = require('ioredis') as typeof import('ioredis');
		this.redis = new IORedis(parsed.toString(), {
			lazyConnect: false,
			maxRetriesPerRequest: options.maxRetriesPerRequest ?? 3,
			retryStrategy: (times) => reconnectDelayMs(times),
			// Off (ioredis's default): each command is written when issued. Batching the commands of one tick cost a
			// worker 10–15% more CPU per decision (bench/scale cpu, docs/benchmarks.md): a decision's steps are one script
			// each, awaited in turn, so a tick rarely has more than one to batch, and every batch paid for a pipeline.
			enableAutoPipelining: false,
		}) as Scripted;
		// Connection errors surface on the commands that needed the connection (with this cause); the event must not crash.
		this.redis.on('error', (error: Error) => (this.lastConnectionError = error.message));
		this.redis.on('ready', () => (this.lastConnectionError = undefined));
		for (const [name, s] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, { ...(s.keys === undefined ? {} : { numberOfKeys: s.keys }), lua: s.lua });
	}

	/** The underlying connection (tests count round trips with it). */
	get client(): Redis {
		return this.redis;
	}

	private k(...parts: string[]): string {
		return this.prefix + parts.join(':');
	}

	private async run<T>(what: string, op: () => Promise<T>): Promise<T> {
		if (this.closed) throw new NudgeError('STORE_ERROR', `The Redis store at ${this.where} is closed`);
		try {
			return await op();
		} catch (error) {
			if (error instanceof NudgeError) throw error;
			const cause = this.lastConnectionError;
			const message = `${(error as Error).message}${cause && !(error as Error).message.includes(cause) ? ` (connection: ${cause})` : ''}`;
			throw new NudgeError('STORE_ERROR', `Redis store at ${this.where} could not ${what}: ${message}`, [], 503);
		}
	}

	async sync() {}

	getProfile(contactId: string) {
		return this.run('read a profile', async () => {
			const json = await this.redis.get(this.k('profile', contactId));
			return json === null ? undefined : (JSON.parse(json) as Profile);
		});
	}

	resolveIdentities(keys: string[]) {
		return this.run('resolve identities', async () => {
			const found = new Map<string, string>();
			if (keys.length === 0) return found;
			const ids = await this.redis.mget(keys.map((key) => this.k('identity', key)));
			ids.forEach((id, i) => id !== null && found.set(keys[i], id));
			return found;
		});
	}

	/** One script, as the save that also lets locks go: the merged profiles deleted and the profile with its identities set, atomically. */
	async saveProfile(profile: Profile, identityKeys: string[], merged: string[]) {
		await this.saveProfileAndRelease(profile, identityKeys, merged, []);
	}

	claimKey(key: string, ttlMs: number, now: number) {
		return this.run('claim a key', async () => (await this.redis.nudgeClaim(this.k('claim', key), now, now + ttlMs, ttlPx(ttlMs))) === 1);
	}

	releaseKey(key: string, heldAs?: number) {
		return this.run('release a key', async () => {
			if (heldAs === undefined) await this.redis.del(this.k('claim', key));
			else await this.redis.nudgeReleaseIfHeld(this.k('claim', key), heldAs);
		});
	}

	/** A claim's value is when it frees (see CLAIM_LUA); Redis expires the key then too. */
	holdKey(key: string, ttlMs: number, now: number) {
		return this.run('hold a key', async () => {
			await this.redis.set(this.k('claim', key), now + ttlMs, 'PX', ttlPx(ttlMs));
		});
	}

	keyHeldUntil(key: string, now: number) {
		return this.run('read a key', async () => {
			const until = Number(await this.redis.get(this.k('claim', key)));
			return until > now ? until : undefined;
		});
	}

	/** The cap script's arguments after its keys, for a reservation. */
	private reserveArgs(r: CapReservation, counters: CapCounter[]): (string | number)[] {
		const entry = JSON.stringify({ channel: r.channel, journey: r.journey, tags: r.tags, at: r.at, expiresAt: r.expiresAt });
		// A horizon that is not a finite time drops nothing (Infinity would empty the ledger).
		const keepSince = Number.isFinite(r.keepSince) ? String(r.keepSince) : '';
		return [countersJson(counters), r.at, r.reservationId, entry, r.contactId, keepSince, this.k('res', '')];
	}

	reserveCap(r: CapReservation, counters: CapCounter[]): Promise<CapVerdict> {
		return this.run('check a frequency cap', async () => {
			const out = (await this.redis.nudgeReserve(this.k('cap', r.contactId), this.k('res', r.reservationId), ...this.reserveArgs(r, counters))) as number[];
			return verdictOf(out, counters);
		});
	}

	reserveCapAndClaim(r: CapReservation, counters: CapCounter[], claim: KeyClaim) {
		return this.run('check a frequency cap', async () => {
			const keys = [this.k('cap', r.contactId), this.k('res', r.reservationId), this.k('claim', claim.key)];
			const out = (await this.redis.nudgeReserveAndClaim(...keys, ...this.reserveArgs(r, counters), r.at + claim.ttlMs, ttlPx(claim.ttlMs), claim.lookOnly ? '1' : '0')) as number[];
			const held = out.pop() === 1;
			const claimed = out.pop() === 1;
			return { ...verdictOf(out, counters), claimed, ...(held ? { held } : {}) };
		});
	}

	/**
	 * The cap script's keys and arguments for a look: no reservation id, so it counts and writes nothing (its second
	 * key is left untouched). Used by peekCap and by the look with the learner's counts.
	 */
	private peekArgs(contactId: string, counters: CapCounter[], now: number): { keys: string[]; args: (string | number)[] } {
		return { keys: [this.k('cap', contactId), this.k('res', '')], args: [countersJson(counters), now, '', '', contactId] };
	}

	peekCap(contactId: string, counters: CapCounter[], now: number): Promise<CapVerdict> {
		return this.run('look at a frequency cap', async () => {
			const { keys, args } = this.peekArgs(contactId, counters, now);
			return verdictOf((await this.redis.nudgeReserve(...keys, ...args)) as number[], counters);
		});
	}

	async peekCapAndReadArmStats(contactId: string, counters: CapCounter[], now: number, armKeys: string[], sendHours = false, takeIn?: TakeIn) {
		// The send hours are read as their keys, with the arms' (sendHours.ts: the stored layout).
		const hourKeys = sendHours ? sendTimeKeys(contactId) : [];
		const keys = [...armKeys, ...hourKeys];
		const answer = (verdict: CapVerdict, stats: Map<string, ArmStats>, tookIn: boolean) => ({ verdict, stats, ...(sendHours ? { hours: sendHoursIn(stats, hourKeys) } : {}), ...(tookIn ? {} : { tookIn }) });
		// No rule to count: the ledger is not read (with no keys and nothing to carry, nothing is sent).
		if (!counters.length) {
			const { stats, tookIn } = await this.readArmStats(keys, takeIn);
			return answer(noCounters(), stats, tookIn);
		}
		return this.run('look at frequency caps and learner statistics', async () => {
			const peek = this.peekArgs(contactId, counters, now);
			// The look's own arguments, left empty up to the arm hashes' prefix and keys.
			const padding = Array<string>(PEEK_ARMS_ARG - 1 - peek.args.length).fill('');
			const out = (await this.redis.nudgePeekAndArms(...peek.keys, ...peek.args, ...padding, this.k('arm', ''), packArmKeys(keys), ...this.takeInArgs(takeIn))) as unknown[];
			const n = 1 + 2 * counters.length;
			return answer(verdictOf(out.slice(0, n) as number[], counters), armStatsOf(keys, out[n] as string), out[n + 1] === 1);
		});
	}

	getSendHours(contactId: string) {
		return readSendHours(this, contactId);
	}

	moveCapLedger(from: string[], to: string) {
		return this.run('move a merged contact\'s cap ledger', async () => (from.length ? Number(await this.redis.nudgeMoveLedger(this.k('cap', to), this.k('cap', ''), this.k('res', ''), to, ...from)) : 0));
	}

	settleCap(reservationId: string, outcome: 'commit' | 'release') {
		return this.run('settle a cap reservation', async () => (await this.redis.nudgeSettle(this.k('res', reservationId), this.k('cap', ''), outcome, reservationId)) === 1);
	}

	claimKeyUnlessMarked(key: string, ttlMs: number, now: number, mark: string, markAt: number) {
		return this.run('claim a key', async () => (await this.redis.nudgeClaimUnlessMarked(this.k('claim', key), this.k('claim', mark), now, now + ttlMs, ttlPx(ttlMs), markAt)) as 'claimed' | 'held' | 'marked');
	}

	finishTakeIn(takeIn: TakeIn) {
		return this.run('finish taking an event in', async () => (await this.redis.nudgeFinishTakeIn(...this.takeInArgs(takeIn))) === 1);
	}

	/** takeInStep's arguments: the mark (held and released claim keys, until, ttl, the lease's value, now), then the profile's locks, merged profiles and sets. */
	private takeInArgs({ mark, profile: save }: Partial<TakeIn> = {}): (string | number)[] {
		const held = mark ? [this.k('claim', mark.hold), this.k('claim', mark.release), mark.now + mark.ttlMs, ttlPx(mark.ttlMs), mark.claimedUntil ?? '', mark.now] : ['', '', '', '', '', ''];
		if (!save) return [...held, 0, '', 0, 0];
		const { profile, identityKeys, merged, release, lockedUntil } = save;
		// Without the locks' value (a caller that took none), the locks are let go as they are.
		const claims = release.map((key) => this.k('claim', key));
		const fenced = lockedUntil !== undefined;
		const locks = fenced ? claims : [];
		const deleted = [...merged.map((id) => this.k('profile', id)), ...(fenced ? [] : claims)];
		const set = [this.k('profile', profile.contactId), JSON.stringify(profile), ...identityKeys.flatMap((key) => [this.k('identity', key), profile.contactId])];
		return [...held, locks.length, ...locks, lockedUntil ?? '', deleted.length, ...deleted, set.length / 2, ...set];
	}

	lockAndReadProfiles(locks: string[], ttlMs: number, now: number, identityKeys: string[], contactId?: string, reads?: RecordReads, contactLocks?: string) {
		return this.run('read profiles', async (): Promise<LockedProfiles | undefined> => {
			const { keys, args } = this.lockAndReadArgs({ locks, ttlMs, identityKeys, contactId, reads, contactLocks }, now);
			const out = (await this.redis.nudgeLockAndRead(keys.length, ...keys, ...args)) as string[] | null;
			return out === null ? undefined : lockedProfilesOf({ identityKeys, reads }, out);
		});
	}

	claimKeyUnlessMarkedAndLock(key: string, ttlMs: number, now: number, mark: string, markAt: number, lock: ProfileLockRequest) {
		return this.run('claim a key and read profiles', async (): Promise<{ claim: 'claimed' | 'held' | 'marked'; locked?: LockedProfiles }> => {
			const read = this.lockAndReadArgs(lock, now);
			const keys = [this.k('claim', key), this.k('claim', mark), ...read.keys];
			const [claim, out] = (await this.redis.nudgeClaimAndLock(keys.length, ...keys, now, now + ttlMs, ttlPx(ttlMs), markAt, ...read.args)) as ['claimed' | 'held' | 'marked', string[]?];
			return out ? { claim, locked: lockedProfilesOf(lock, out) } : { claim };
		});
	}

	/** lockAndRead's keys (lock keys, identity keys, cursor keys, then claim keys) and arguments (LOCK_AND_READ_FN). */
	private lockAndReadArgs(lock: ProfileLockRequest, now: number): { keys: string[]; args: (string | number)[] } {
		const lockKeys = [...new Set(lock.locks)].map((key) => this.k('claim', key));
		const cursors = (lock.reads?.cursors ?? []).map((name) => this.k('cursor', name));
		const claims = (lock.reads?.claims ?? []).map((key) => this.k('claim', key));
		const keys = [...lockKeys, ...lock.identityKeys.map((key) => this.k('identity', key)), ...cursors, ...claims];
		const contactLocks = lock.contactLocks === undefined ? '' : this.k('claim', lock.contactLocks);
		return { keys, args: [lockKeys.length, now, now + lock.ttlMs, ttlPx(lock.ttlMs), this.k('profile', ''), lock.contactId ?? '', lock.identityKeys.length, cursors.length, contactLocks] };
	}

	/** The take-in's script with no mark. */
	saveProfileAndRelease(profile: Profile, identityKeys: string[], merged: string[], release: string[], lockedUntil?: number) {
		return this.run('save a profile', async () => {
			const save = { profile, identityKeys, merged, release, ...(lockedUntil === undefined ? {} : { lockedUntil }) };
			return (await this.redis.nudgeFinishTakeIn(...this.takeInArgs({ profile: save }))) === 1;
		});
	}

	async settleCapAndCount(reservationId: string, outcome: 'commit' | 'release', deltas: { key: string; delta: Partial<ArmStats> }[]) {
		checkArmDeltas(deltas);
		return this.run('settle a cap reservation', async () => {
			const values = deltas.flatMap(({ delta }) => ARM_STAT_FIELDS.map((field) => delta[field] ?? 0));
			const keys = [this.k('res', reservationId), ...deltas.map(({ key }) => this.k('arm', key))];
			return (await this.redis.nudgeSettleAndCount(keys.length, ...keys, this.k('cap', ''), outcome, reservationId, ...values)) === 1;
		});
	}

	private decisionIndexes(d: Pick<Decision, 'contactId' | 'journey'>): string[] {
		return [this.k('decisions'), this.k('decisions', 'contact', d.contactId), this.k('decisions', 'journey', d.journey)];
	}

	/** A decision's contact, journey and creation time never change, so its index entries are written once. */
	putDecision(d: Decision) {
		return this.run('write a decision', async () => {
			const member = `${d.createdAt}|${d.decisionId}`;
			const tx = this.redis.multi().set(this.k('decision', d.decisionId), JSON.stringify(d));
			if (d.delivery?.providerMessageId) tx.set(this.k('message', d.delivery.providerMessageId), d.decisionId);
			for (const index of this.decisionIndexes(d)) tx.zadd(index, 0, member);
			await execAll(tx);
		});
	}

	/** The stored body plus outcomes recorded since (deduplicated by outcome id). */
	private withOutcomes(json: string | null, outcomes: string[]): Decision | undefined {
		if (json === null) return undefined;
		const d = JSON.parse(json) as Decision;
		const seen = new Set(d.outcomes.map((o) => o.outcomeId));
		for (const o of outcomes.map((text) => JSON.parse(text) as Outcome)) {
			if (seen.has(o.outcomeId)) continue;
			d.outcomes.push(o);
			if (o.at > d.updatedAt) d.updatedAt = o.at;
		}
		return d;
	}

	private async readDecisions(ids: string[]): Promise<(Decision | undefined)[]> {
		if (ids.length === 0) return [];
		const tx = this.redis.pipeline();
		for (const id of ids) tx.get(this.k('decision', id)).lrange(this.k('outcomes', id), 0, -1);
		const replies = (await tx.exec()) ?? [];
		for (const [error] of replies) if (error) throw error;
		return ids.map((_, i) => this.withOutcomes(replies[2 * i][1] as string | null, replies[2 * i + 1][1] as string[]));
	}

	getDecision(decisionId: string) {
		return this.run('read a decision', async () => (await this.readDecisions([decisionId]))[0]);
	}

	/** Walks the narrowest index (contact, journey or all) in (createdAt, decisionId) order and filters. */
	queryDecisions(q: DecisionQuery): Promise<Decision[]> {
		// Several contacts: each one's index walked at once, the answers merged in the query's order.
		if (q.contactIds) {
			const { contactIds, ...rest } = q;
			const each = [...new Set(contactIds)].filter((id) => !q.contactId || id === q.contactId).map((contactId) => this.queryDecisions({ ...rest, contactId }));
			return Promise.all(each).then((found) => found.flat().sort(inQueryOrder(q)).slice(0, queryLimit(q)));
		}
		return this.run('query decisions', async () => {
			const index = q.contactId ? this.k('decisions', 'contact', q.contactId) : q.journey ? this.k('decisions', 'journey', q.journey) : this.k('decisions');
			const limit = queryLimit(q);
			// Members are `<createdAt>|<decisionId>`: lexical order is the query's order. `start` is where the
			// reading begins (the oldest end, or the newest when newest first), `end` where it stops.
			const after = q.after && `(${q.after.createdAt}|${q.after.decisionId}`;
			const oldest = q.from ? `[${q.from}` : '-';
			const newest = q.to ? `(${q.to}` : '+';
			let start = after ?? (q.newestFirst ? newest : oldest);
			const end = q.newestFirst ? oldest : newest;
			const found: Decision[] = [];
			const page = Math.max(100, limit);
			for (;;) {
				const members = q.newestFirst ? await this.redis.zrevrangebylex(index, start, end, 'LIMIT', 0, page) : await this.redis.zrangebylex(index, start, end, 'LIMIT', 0, page);
				const ds = await this.readDecisions(members.map((m) => m.slice(m.indexOf('|') + 1)));
				for (const d of ds) if (d && matchesQuery(d, q) && found.length < limit) found.push(d);
				if (found.length >= limit || members.length < page) break;
				start = `(${members[members.length - 1]}`;
			}
			return found.sort(inQueryOrder(q));
		});
	}

	/** The console reads the narrowest index (contact, journey or all) in pages, bodies pipelined, and filters the facts here. */
	private consoleIndex(filter: DecisionFilter): string {
		return filter.contactId ? this.k('decisions', 'contact', filter.contactId) : filter.journey ? this.k('decisions', 'journey', filter.journey) : this.k('decisions');
	}

	listDecisionSummaries(filter: DecisionFilter, page: SummaryPage) {
		return this.run('list decisions', async () => {
			const index = this.consoleIndex(filter);
			let max = page.before ? `(${page.before.createdAt}|${page.before.decisionId}` : filter.to ? `(${filter.to}` : '+';
			const min = filter.from ? `[${filter.from}` : '-';
			const found: DecisionSummary[] = [];
			const batch = Math.max(100, page.limit);
			for (;;) {
				const members = await this.redis.zrevrangebylex(index, max, min, 'LIMIT', 0, batch);
				for (const d of await this.readDecisions(members.map((m) => m.slice(m.indexOf('|') + 1)))) {
					const facts = d && factsOf(d);
					if (facts && matchesFilter(facts, filter) && found.length < page.limit) found.push(summaryOf(facts));
				}
				if (found.length >= page.limit || members.length < batch) return found;
				max = `(${members[members.length - 1]}`;
			}
		});
	}

	countDecisions(filter: DecisionFilter, by: FactKey[]) {
		return this.run('count decisions', async () => {
			const index = this.consoleIndex(filter);
			const counter = new FactCounter(filter, by);
			let min = filter.from ? `[${filter.from}` : '-';
			const max = filter.to ? `(${filter.to}` : '+';
			for (;;) {
				const members = await this.redis.zrangebylex(index, min, max, 'LIMIT', 0, 1000);
				for (const d of await this.readDecisions(members.map((m) => m.slice(m.indexOf('|') + 1)))) if (d) counter.add(factsOf(d));
				if (members.length < 1000) return counter.rows();
				min = `(${members[members.length - 1]}`;
			}
		});
	}

	addOutcome(decisionId: string, outcome: Outcome, sameAs?: string) {
		return this.run('record an outcome', async () => {
			const added = await this.redis.nudgeAddOutcome(this.k('decision', decisionId), this.k('outcome-ids'), this.k('outcomes', decisionId), outcome.outcomeId, JSON.stringify(outcome), sameAs ?? '');
			return added === 1;
		});
	}

	saveModelVersion(name: string, createdAt: string, meta: Record<string, unknown>, body: string) {
		return this.run('save a model version', async () => Number(await this.redis.nudgeSaveModel(this.k('model', name, 'versions'), JSON.stringify({ createdAt, meta, body }))));
	}

	async getModelVersion(name: string, version?: number) {
		const active = await this.activeModelVersion(name);
		const v = version ?? active;
		if (v === undefined) return undefined;
		return this.run('read a model version', async () => {
			const json = await this.redis.hget(this.k('model', name, 'versions'), String(v));
			if (json === null) return undefined;
			const { createdAt, meta, body } = JSON.parse(json) as { createdAt: string; meta: Record<string, unknown>; body: string };
			return { name, version: v, createdAt, active: v === active, meta, body };
		});
	}

	activeModelVersion(name: string) {
		return this.run('read the active model version', async () => {
			const v = await this.redis.get(this.k('model', name, 'active'));
			return v === null ? undefined : Number(v);
		});
	}

	async listModelVersions(name: string) {
		const active = await this.activeModelVersion(name);
		return this.run('list model versions', async () => {
			const all = await this.redis.hgetall(this.k('model', name, 'versions'));
			const list: ModelVersionInfo[] = Object.entries(all).map(([v, json]) => {
				const { createdAt, meta } = JSON.parse(json) as { createdAt: string; meta: Record<string, unknown> };
				return { name, version: Number(v), createdAt, active: Number(v) === active, meta };
			});
			return list.sort((a, b) => a.version - b.version);
		});
	}

	activateModelVersion(a: Omit<ModelActivation, 'previous'>, expected?: number | null) {
		return this.run('activate a model version', async () => {
			const entry = JSON.stringify({ version: a.version, action: a.action, at: a.at, ...(a.note !== undefined ? { note: a.note } : {}) });
			const ifActive = expected === undefined ? '*' : expected === null ? '' : String(expected);
			const ok = await this.redis.nudgeActivateModel(this.k('model', a.name, 'versions'), this.k('model', a.name, 'active'), this.k('model', a.name, 'log'), a.version, entry, ifActive);
			return ok === 1;
		});
	}

	modelActivations(name: string) {
		return this.run('read model activations', async () => {
			const items = await this.redis.lrange(this.k('model', name, 'log'), 0, -1);
			return items.map((item): ModelActivation => {
				const bar = item.indexOf('|');
				const previous = item.slice(0, bar);
				const { version, action, at, note } = JSON.parse(item.slice(bar + 1)) as { version: number; action: ModelActivation['action']; at: string; note?: string };
				return { name, version, ...(previous ? { previous: Number(previous) } : {}), action, at, ...(note !== undefined ? { note } : {}) };
			});
		});
	}

	getCursor(name: string) {
		return this.run('read a cursor', async () => (await this.redis.get(this.k('cursor', name))) ?? undefined);
	}

	deleteCursor(name: string) {
		return this.run('delete a cursor', async () => {
			await this.redis.del(this.k('cursor', name));
		});
	}

	setCursor(name: string, value: string, expected: string | undefined) {
		return this.run('move a cursor', async () => (await this.redis.nudgeCursor(this.k('cursor', name), value, expected === undefined ? '0' : '1', expected ?? '')) === 1);
	}

	/**
	 * Each timer queue is a sorted set and a hash of its own, so a taker scans only its own queue. A wait queue's bodies
	 * are under `wait-bodies:<journey>`, a name no queue has (`wait:<journey>-bodies` was also journey "<journey>-bodies"'s queue).
	 */
	private timerKeys(queue: TimerQueue): [string, string] {
		return queue === INACTIVITY_QUEUE ? [this.k('timers'), this.k('timer-bodies')] : [this.k(queue), this.k(WAIT_BODIES, queue.slice(queue.indexOf(':') + 1))];
	}

	/** The journeys' wait queues that hold timers now (each has its bodies hash). */
	private async waitQueues(): Promise<TimerQueue[]> {
		const queues: TimerQueue[] = [];
		const start = this.k(WAIT_BODIES, '').length;
		for await (const keys of this.scanKeys(`${WAIT_BODIES}:*`)) for (const key of keys) queues.push(waitQueue(decodeURIComponent(key.slice(start))));
		return queues;
	}

	/**
	 * Before a process's first timer step: the wait bodies an earlier version kept under `wait:<journey>-bodies` are
	 * moved to their key now, once per store (a mark records it). Stop workers of earlier versions before upgrading:
	 * one still running would write bodies where this version no longer reads them.
	 */
	private timerLayout(): Promise<void> {
		this.timersMoved ??= (async () => {
			const mark = this.k('layout', WAIT_BODIES);
			if (await this.redis.get(mark)) return;
			for await (const keys of this.scanKeys(`${waitQueue('*')}-bodies`)) {
				for (const key of keys) await this.redis.nudgeMoveWaitBodies(key, this.k(WAIT_BODIES, key.slice(this.k('wait:').length, -'-bodies'.length)));
			}
			await this.redis.set(mark, '1');
		})().catch((error: unknown) => {
			this.timersMoved = undefined;
			throw error;
		});
		return this.timersMoved;
	}

	scheduleTimer(timer: StoredTimer, onlyIfAbsent = false) {
		const [due, bodies] = this.timerKeys(timerQueue(timer.timerId));
		const body = `${timer.dueAt}||${timer.body}`;
		return this.run('schedule a timer', async () => {
			await this.timerLayout();
			// One MULTI: a timer in the queue has its body, so both leave an existing one as it is, or both write.
			const steps = onlyIfAbsent
				? this.redis.multi().zadd(due, 'NX', timer.dueAt, timer.timerId).hsetnx(bodies, timer.timerId, body)
				: this.redis.multi().zadd(due, timer.dueAt, timer.timerId).hset(bodies, timer.timerId, body);
			await execAll(steps);
		});
	}

	cancelTimer(timerId: string) {
		return this.run('cancel a timer', async () => {
			await this.timerLayout();
			return (await this.redis.nudgeCancelTimer(...this.timerKeys(timerQueue(timerId)), timerId)) === 1;
		});
	}

	takeDueTimers(now: number, limit: number, leaseMs: number, queue: TimerQueue = INACTIVITY_QUEUE) {
		return this.run('take due timers', async () => {
			await this.timerLayout();
			const { journeyText = '' } = queuePrefix(queue);
			// At least 1 ms: a lease of no time would leave a taken timer in the due range, taken again in the same call.
			const out = (await this.redis.nudgeTakeTimers(...this.timerKeys(storedQueue(queue)), now, limit, Math.max(1, leaseMs), randomUUID(), journeyText)) as string[];
			const timers: LeasedTimer[] = [];
			for (let i = 0; i < out.length; i += 4) timers.push({ timerId: out[i], dueAt: Number(out[i + 1]), body: out[i + 2], lease: out[i + 3] });
			return timers;
		});
	}

	ackTimer(timerId: string, lease: string) {
		return this.run('acknowledge a timer', async () => {
			await this.timerLayout();
			return (await this.redis.nudgeAckTimer(...this.timerKeys(timerQueue(timerId)), timerId, lease)) === 1;
		});
	}

	async getArmStats(keys: string[]) {
		return (await this.readArmStats(keys)).stats;
	}

	/** getArmStats, then a take-in's end, in one script; `tookIn` as finishTakeIn's answer (true without one). */
	private readArmStats(keys: string[], takeIn?: TakeIn) {
		return this.run('read learner statistics', async () => {
			if (keys.length === 0 && !takeIn) return { stats: new Map<string, ArmStats>(), tookIn: true };
			const [arms, tookIn] = (await this.redis.nudgeGetArms(this.k('arm', ''), packArmKeys(keys), ...this.takeInArgs(takeIn))) as [string, number];
			return { stats: armStatsOf(keys, arms), tookIn: tookIn === 1 };
		});
	}

	/** One script: all deltas apply together, and concurrent writers add up. */
	async addArmStats(deltas: { key: string; delta: Partial<ArmStats> }[]) {
		checkArmDeltas(deltas);
		if (deltas.length === 0) return;
		await this.run('update learner statistics', async () => {
			const values = deltas.flatMap(({ delta }) => ARM_STAT_FIELDS.map((field) => delta[field] ?? 0));
			await this.redis.nudgeAddArms(deltas.length, ...deltas.map(({ key }) => this.k('arm', key)), ...values);
		});
	}

	findDecisionByMessageId(messageId: string) {
		return this.run('find a decision by message id', async () => {
			const id = await this.redis.get(this.k('message', messageId));
			return id === null ? undefined : (await this.readDecisions([id]))[0];
		});
	}

	eraseContact({ contactId, identityKeys, claimKeys, armKeys, pseudonymise }: ContactErasure): Promise<ErasureCounts> {
		return this.run('erase a contact', async () => {
			const keys = [this.k('profile', contactId), this.k('cap', contactId), ...identityKeys.map((key) => this.k('identity', key)), ...claimKeys.map((key) => this.k('claim', key)), ...armKeys.map((key) => this.k('arm', key))];
			const [profiles, identities, capEntries] = ((await this.redis.nudgeEraseState(keys.length, ...keys, contactId, this.k('res', ''), identityKeys.length)) as number[]).map(Number);
			let timers = 0;
			await this.timerLayout();
			for (const queue of [INACTIVITY_QUEUE, ...(await this.waitQueues())]) {
				const [due, bodies] = this.timerKeys(queue);
				let cursor = '0';
				do {
					const [next, pairs] = await this.redis.hscan(bodies, cursor, 'COUNT', 1000);
					cursor = next;
					for (let i = 0; i < pairs.length; i += 2) {
						// The value is "dueAt|lease|body" (TAKE_TIMERS_LUA).
						const body = pairs[i + 1].split('|').slice(2).join('|');
						if (timerIsFor(body, contactId)) timers += Number(await this.redis.nudgeCancelTimer(due, bodies, pairs[i]));
					}
				} while (cursor !== '0');
			}
			const index = this.k('decisions', 'contact', contactId);
			const members = await this.redis.zrange(index, 0, -1);
			const decisions = await this.readDecisions(members.map((m) => m.slice(m.indexOf('|') + 1)));
			const tx = this.redis.multi();
			for (const [i, d] of decisions.entries()) {
				if (!d) continue;
				const erased = pseudonymise(d);
				tx.set(this.k('decision', d.decisionId), JSON.stringify(erased)).zadd(this.k('decisions', 'contact', erased.contactId), 0, members[i]);
				// The body now holds every outcome; the ids kept to drop repeats become the rewritten ones.
				tx.del(this.k('outcomes', d.decisionId));
				if (d.outcomes.length) tx.srem(this.k('outcome-ids'), ...d.outcomes.map((o) => o.outcomeId)).sadd(this.k('outcome-ids'), ...erased.outcomes.map((o) => o.outcomeId));
				if (d.delivery?.providerMessageId) tx.del(this.k('message', d.delivery.providerMessageId));
			}
			await execAll(tx.del(index));
			return { profiles, identities, capEntries, timers, decisions: decisions.filter(Boolean).length };
		});
	}

	/** One transaction; a decision counts as deleted when this call took it out of the log-wide index. */
	deleteDecisions(decisionIds: string[]) {
		return this.run('delete old decisions', async () => {
			const found = (await this.readDecisions(decisionIds)).filter((d): d is Decision => d !== undefined);
			if (!found.length) return 0;
			const commands: string[][] = [];
			// Where each decision's ZREM from the log-wide index (decisionIndexes' first) lands among the replies.
			const removals: number[] = [];
			for (const d of found) {
				const member = `${d.createdAt}|${d.decisionId}`;
				removals.push(commands.length);
				for (const index of this.decisionIndexes(d)) commands.push(['zrem', index, member]);
				commands.push(['del', this.k('decision', d.decisionId), this.k('outcomes', d.decisionId)]);
				if (d.outcomes.length) commands.push(['srem', this.k('outcome-ids'), ...d.outcomes.map((o) => o.outcomeId)]);
				if (d.delivery?.providerMessageId) commands.push(['del', this.k('message', d.delivery.providerMessageId)]);
			}
			const replies = await execAll(this.redis.multi(commands));
			return removals.filter((i) => Number(replies[i]?.[1]) === 1).length;
		});
	}

	/**
	 * Refuses a prefix under which nothing is stored (reading creates nothing here, but a command that only reads would
	 * answer from the empty key space a mistyped ?prefix= names, as if that were the log). Stops at the first key found.
	 */
	async requirePrefix(): Promise<void> {
		for await (const _keys of this.scanKeys('*')) return;
		throw new NudgeError('INVALID_INPUT', `Nothing is stored under the prefix "${this.prefix}" in the Redis database at ${this.where.replace(/\?.*$/, '')}: check ?prefix= in the store URL (without it, the prefix is nudge:)`);
	}

	/** SCAN pages of this store's keys matching `pattern` (after the prefix), never KEYS. */
	private async *scanKeys(pattern: string): AsyncGenerator<string[]> {
		const match = `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}${pattern}`;
		let cursor = '0';
		do {
			const [next, keys] = await this.run('scan keys', () => this.redis.scan(cursor, 'MATCH', match, 'COUNT', RETENTION_BATCH));
			cursor = next;
			if (keys.length) yield keys;
		} while (cursor !== '0');
	}

	/**
	 * Ledgers one script each; claims a SCAN page per script. A claim's value is its expiry on the clock it was
	 * claimed with (an event's own time for replays), which Redis's time to live does not follow.
	 */
	pruneExpired(target: PruneTarget, before: number, dryRun: boolean) {
		const dry = dryRun ? '1' : '0';
		return this.run(`prune ${target === 'claims' ? 'expired claims' : 'the frequency-cap ledger'}`, async () => {
			let pruned = 0;
			for await (const keys of this.scanKeys(target === 'claims' ? 'claim:*' : 'cap:*')) {
				if (target === 'claims') pruned += Number(await this.redis.nudgePruneClaims(keys.length, ...keys, before, dry));
				else for (const key of keys) pruned += Number(await this.redis.nudgePruneLedger(key, before, this.k('res', ''), dry));
			}
			return pruned;
		});
	}

	async *inactiveContacts(before: string, pageSize: number) {
		const start = this.k('profile', '').length;
		let found: string[] = [];
		for await (const keys of this.scanKeys('profile:*')) {
			const bodies = await this.run('read profiles for retention', () => this.redis.mget(keys));
			bodies.forEach((json, i) => {
				const seen = json === null ? undefined : (JSON.parse(json) as Partial<Profile>).lastSeenAt;
				if (typeof seen === 'string' && seen < before) found.push(keys[i].slice(start));
			});
			if (found.length < pageSize) continue;
			yield found;
			found = [];
		}
		if (found.length) yield found;
	}

	/** Deletes every key under this store's prefix (tests and `nudge` tooling; never called by the engine). */
	async dropAll(): Promise<void> {
		for await (const keys of this.scanKeys('*')) await this.redis.unlink(...keys);
	}

	async close() {
		if (this.closed) return;
		this.closed = true;
		if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
		else this.redis.disconnect();
	}
}
