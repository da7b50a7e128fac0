"""The routing engine's Redis layout and its Lua scripts: every change to the waiting callers
and to the agents' states is one atomic script, so two processes never hand one caller to two
agents or two callers to one agent.

Keys (prefix ``rt:``):

| key | type | what |
| --- | --- | --- |
| ``rt:c:{CallSid}`` | hash | a caller, read as routing.queue.WaitingCaller (see below) |
| ``rt:ended:{CallSid}`` | string | Twilio said the call is over: a late step does not queue it |
| ``rt:q:es``, ``rt:q:x`` | zset | callers any agent may take (Spanish; overflowed language callers), by score |
| ``rt:q:qu``, ``rt:q:ay`` | zset | quechua / aymara callers offered only to speakers, by score |
| ``rt:arr:qu``, ``rt:arr:ay`` | zset | the same callers by arrival, to overflow them after the language wait |
| ``rt:w`` | zset | every waiting caller by arrival (wait limit) |
| ``rt:a:{agent_id}`` | hash | an agent: st (offline, available, ringing, on_call, wrap_up, paused), langs, since, misses, call |
| ``rt:av``, ``rt:av:qu``, ``rt:av:ay``, ``rt:av:none`` | zset | available agents (all; speakers; speakers of neither) by idle-since: longest idle first |
| ``rt:wrap`` | zset | agents in wrap-up by its end |
| ``rt:ring`` | zset | agents being offered a caller, by the offer time |
| ``rt:on`` | set | agents staffing the line (not offline, not paused) |
| ``rt:ht`` | list | the last handle times in seconds |
| ``rt:qsid`` | string | the QueueSid of Twilio's Plataforma queue |
| ``rt:interp:{lang}`` | counter | whose turn it is among the registry's speakers of a language |

A caller's hash (only routing/queue.py and these scripts read or write it), field: what
(``WaitingCaller`` attribute): st: waiting, offered, bridged, done, gone, callback, timeout
(status); lang: es, qu, ay (language); cls: preferential, authority, normal (priority); score
(score); arr: arrival ms (arrival_ms); q: the waiting set, es, x, qu or ay (line); agent: the
agent offered or connected (agent_id); interp: 1 when the agent needs an interpreter
(interpreter); bs: the bridge TwiML was served (bridge_served); tl: the wait limit's event was
recorded (timeout_logged); handoff: red or presencial (handoff); confcalls: the interpreter
conference's calls were placed; answered: when the agent answered (ms).

Score = arrival ms - class offset: lower is served first. A free agent who speaks quechua or
aymara takes the callers waiting in that language's line (the lowest score among them) before
any caller the rest of the staff could serve; otherwise the lowest score among the Spanish and
overflowed callers goes to the longest-idle agent, except that while quechua or aymara callers
wait for a speaker, the longest-idle agent who speaks neither is preferred (speakers are kept
for those callers). A caller put back (agent did not answer, transfer failed) keeps the score,
so keeps the place.
"""

from __future__ import annotations

import functools
from typing import Any

import redis

PREFIX = "rt:"
SPEAKER_LANGUAGES = ("qu", "ay")
CALLER_TTL_SECONDS = 6 * 3600

_HELPERS = """
local P = 'rt:'
local function agent_langs(a)
  local out = {}
  local langs = redis.call('HGET', P..'a:'..a, 'langs')
  if langs then
    for l in string.gmatch(langs, '[^,]+') do out[#out + 1] = l end
  end
  return out
end
local function leave_pools(a)
  redis.call('ZREM', P..'av', a)
  redis.call('ZREM', P..'av:none', a)
  redis.call('ZREM', P..'wrap', a)
  redis.call('ZREM', P..'ring', a)
  for _, l in ipairs(agent_langs(a)) do redis.call('ZREM', P..'av:'..l, a) end
end
local function make_available(a, since)
  redis.call('HSET', P..'a:'..a, 'st', 'available', 'since', since, 'call', '')
  redis.call('ZADD', P..'av', since, a)
  local langs = agent_langs(a)
  for _, l in ipairs(langs) do redis.call('ZADD', P..'av:'..l, since, a) end
  if #langs == 0 then redis.call('ZADD', P..'av:none', since, a) end
  redis.call('SADD', P..'on', a)
end
local function unqueue(sid)
  local ck = P..'c:'..sid
  local q = redis.call('HGET', ck, 'q')
  if q then redis.call('ZREM', P..'q:'..q, sid) end
  redis.call('ZREM', P..'w', sid)
  local lang = redis.call('HGET', ck, 'lang')
  if lang == 'qu' or lang == 'ay' then redis.call('ZREM', P..'arr:'..lang, sid) end
end
local function put_in_queue(sid)
  local ck = P..'c:'..sid
  local f = redis.call('HMGET', ck, 'q', 'score', 'arr', 'lang')
  redis.call('ZADD', P..'q:'..f[1], f[2], sid)
  redis.call('ZADD', P..'w', f[3], sid)
  if f[1] == f[4] and (f[4] == 'qu' or f[4] == 'ay') then
    redis.call('ZADD', P..'arr:'..f[4], f[3], sid)
  end
  redis.call('HSET', ck, 'st', 'waiting', 'agent', '', 'interp', '0')
  redis.call('HDEL', ck, 'bs', 'handoff', 'confcalls')
end
"""

# ARGV: sid, lang, cls, now_ms, offset_ms, ttl_s. Returns {state, score, arrival}.
ENQUEUE = (
    _HELPERS
    + """
local sid = ARGV[1]
local ck = P..'c:'..sid
local st = redis.call('HGET', ck, 'st')
if st == 'waiting' or st == 'offered' or st == 'bridged' then
  local f = redis.call('HMGET', ck, 'score', 'arr')
  return {st, f[1], f[2]}
end
local lang = ARGV[2]
if lang ~= 'qu' and lang ~= 'ay' then lang = 'es' end
local now = tonumber(ARGV[4])
local score = now - tonumber(ARGV[5])
if st then redis.call('DEL', ck) end
redis.call('HSET', ck, 'lang', lang, 'cls', ARGV[3], 'score', score, 'arr', now, 'q', lang,
  'st', 'waiting', 'agent', '', 'interp', '0')
redis.call('ZADD', P..'q:'..lang, score, sid)
redis.call('ZADD', P..'w', now, sid)
if lang ~= 'es' then redis.call('ZADD', P..'arr:'..lang, now, sid) end
redis.call('EXPIRE', ck, tonumber(ARGV[6]))
return {'queued', tostring(score), tostring(now)}
"""
)

# ARGV: sid, ttl_s, now_ms. Puts back a caller who left with an agent (keeps the place).
REQUEUE = (
    _HELPERS
    + """
local sid = ARGV[1]
local ck = P..'c:'..sid
local st = redis.call('HGET', ck, 'st')
if not st then return 'missing' end
if st == 'waiting' then return 'waiting' end
local a = redis.call('HGET', ck, 'agent')
if a and a ~= '' then
  local ak = P..'a:'..a
  if redis.call('HGET', ak, 'call') == sid and redis.call('HGET', ak, 'st') == 'ringing' then
    leave_pools(a)
    make_available(a, tonumber(ARGV[3]))
  end
end
put_in_queue(sid)
redis.call('EXPIRE', ck, tonumber(ARGV[2]))
return 'requeued'
"""
)

# ARGV: now_ms, language_wait_ms, max_pairs. Returns a flat list {sid, agent, interp, ...}.
MATCH = (
    _HELPERS
    + """
local now = tonumber(ARGV[1])
local lw = tonumber(ARGV[2])
local maxp = tonumber(ARGV[3])
local done = redis.call('ZRANGEBYSCORE', P..'wrap', '-inf', now, 'WITHSCORES')
for i = 1, #done, 2 do
  local a = done[i]
  redis.call('ZREM', P..'wrap', a)
  if redis.call('HGET', P..'a:'..a, 'st') == 'wrap_up' then make_available(a, done[i + 1]) end
end
for _, l in ipairs({'qu', 'ay'}) do
  local due = redis.call('ZRANGEBYSCORE', P..'arr:'..l, '-inf', now - lw)
  for _, sid in ipairs(due) do
    local s = redis.call('ZSCORE', P..'q:'..l, sid)
    redis.call('ZREM', P..'q:'..l, sid)
    redis.call('ZREM', P..'arr:'..l, sid)
    if s then
      redis.call('ZADD', P..'q:x', s, sid)
      redis.call('HSET', P..'c:'..sid, 'q', 'x')
    end
  end
end
local pools = {es = 'av', x = 'av', qu = 'av:qu', ay = 'av:ay'}
local out = {}
local n = 0
while n < maxp do
  if redis.call('ZCARD', P..'av') == 0 then break end
  local heads = {}
  local best, bestscore, bestq
  -- a free speaker takes the callers who wait for their language first (no one else may take
  -- them yet); among those, the lowest score (priority and aging) first
  for _, q in ipairs({'qu', 'ay'}) do
    local head = redis.call('ZRANGE', P..'q:'..q, 0, 0, 'WITHSCORES')
    if #head > 0 then
      heads[q] = true
      local s = tonumber(head[2])
      if (bestscore == nil or s < bestscore) and redis.call('ZCARD', P..pools[q]) > 0 then
        best = head[1]; bestscore = s; bestq = q
      end
    end
  end
  if best == nil then
    -- no speaker free for them: the lowest score among the callers any agent may take
    for _, q in ipairs({'es', 'x'}) do
      local head = redis.call('ZRANGE', P..'q:'..q, 0, 0, 'WITHSCORES')
      if #head > 0 then
        local s = tonumber(head[2])
        if bestscore == nil or s < bestscore then best = head[1]; bestscore = s; bestq = q end
      end
    end
  end
  if best == nil then break end
  local a = redis.call('ZRANGE', P..pools[bestq], 0, 0)[1]
  if pools[bestq] == 'av' and (heads['qu'] or heads['ay']) then
    -- keep speakers for the quechua / aymara callers who wait for them: the longest-idle
    -- agent who speaks neither, when there is one
    local plain = redis.call('ZRANGE', P..'av:none', 0, 0)
    if #plain > 0 then a = plain[1] end
  end
  -- the agent leaves the available pools (an available agent is in no other pool)
  local ak = P..'a:'..a
  local langs = agent_langs(a)
  redis.call('ZREM', P..'av', a)
  if #langs == 0 then redis.call('ZREM', P..'av:none', a) end
  for _, l in ipairs(langs) do redis.call('ZREM', P..'av:'..l, a) end
  redis.call('HSET', ak, 'st', 'ringing', 'since', now, 'call', best)
  redis.call('ZADD', P..'ring', now, a)
  -- the caller leaves the line
  local ck = P..'c:'..best
  local lang = redis.call('HGET', ck, 'lang')
  redis.call('ZREM', P..'q:'..bestq, best)
  redis.call('ZREM', P..'w', best)
  if bestq == 'qu' or bestq == 'ay' then redis.call('ZREM', P..'arr:'..bestq, best) end
  local interp = '0'
  if lang ~= 'es' then
    interp = '1'
    for _, l in ipairs(langs) do if l == lang then interp = '0' end end
  end
  redis.call('HSET', ck, 'st', 'offered', 'agent', a, 'interp', interp)
  out[#out + 1] = best; out[#out + 1] = a; out[#out + 1] = interp
  n = n + 1
end
return out
"""
)

# ARGV: agent, target, now_ms, langs (comma list), wrap_until_ms. Returns {ok|refused, state}.
AGENT_SET = (
    _HELPERS
    + """
local a = ARGV[1]
local target = ARGV[2]
local now = tonumber(ARGV[3])
local ak = P..'a:'..a
local st = redis.call('HGET', ak, 'st') or 'offline'
if st == 'ringing' or st == 'on_call' then
  if target ~= 'wrap_up' or st ~= 'on_call' then return {'refused', st} end
end
if target == 'available' and st == 'available' then return {'ok', st} end
leave_pools(a)
redis.call('HSET', ak, 'langs', ARGV[4])
if target == 'available' then
  if st == 'paused' or st == 'offline' then redis.call('HSET', ak, 'misses', 0) end
  make_available(a, now)
elseif target == 'wrap_up' then
  redis.call('HSET', ak, 'st', 'wrap_up', 'since', now, 'call', '', 'misses', 0)
  redis.call('ZADD', P..'wrap', tonumber(ARGV[5]), a)
  redis.call('SADD', P..'on', a)
else
  redis.call('HSET', ak, 'st', target, 'since', now, 'call', '')
  redis.call('SREM', P..'on', a)
end
return {'ok', target}
"""
)

# ARGV: sid, agent, now_ms. Returns the wait in ms, or -1 when this offer is not current.
ANSWERED = (
    _HELPERS
    + """
local sid, a, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ck = P..'c:'..sid
local f = redis.call('HMGET', ck, 'st', 'agent', 'arr')
if f[1] ~= 'offered' or f[2] ~= a then return -1 end
redis.call('HSET', ck, 'st', 'bridged', 'answered', now)
redis.call('ZREM', P..'ring', a)
redis.call('HSET', P..'a:'..a, 'st', 'on_call', 'since', now, 'misses', 0)
return now - tonumber(f[3])
"""
)

# ARGV: sid, agent, now_ms, max_misses. Returns {requeued 0|1, agent state}.
NO_ANSWER = (
    _HELPERS
    + """
local sid, a, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ck = P..'c:'..sid
local f = redis.call('HMGET', ck, 'st', 'agent')
local ak = P..'a:'..a
if f[1] ~= 'offered' or f[2] ~= a then
  return {0, redis.call('HGET', ak, 'st') or 'offline'}
end
put_in_queue(sid)
local state = redis.call('HGET', ak, 'st') or 'offline'
if state == 'ringing' and redis.call('HGET', ak, 'call') == sid then
  local misses = redis.call('HINCRBY', ak, 'misses', 1)
  leave_pools(a)
  if misses >= tonumber(ARGV[4]) then
    redis.call('HSET', ak, 'st', 'paused', 'since', now, 'call', '')
    redis.call('SREM', P..'on', a)
    state = 'paused'
  else
    make_available(a, now)
    state = 'available'
  end
end
return {1, state}
"""
)

# ARGV: sid, agent, now_ms, wrap_until_ms, handle_seconds. Returns 1 when the agent went to
# wrap-up now, 0 when this was already done (a retry) or the agent moved on.
ENDED = (
    _HELPERS
    + """
local sid, a = ARGV[1], ARGV[2]
local ak = P..'a:'..a
local ck = P..'c:'..sid
local cst = redis.call('HGET', ck, 'st')
if cst == 'bridged' or cst == 'offered' then redis.call('HSET', ck, 'st', 'done') end
local st = redis.call('HGET', ak, 'st')
if redis.call('HGET', ak, 'call') ~= sid or (st ~= 'on_call' and st ~= 'ringing') then return 0 end
leave_pools(a)
redis.call('HSET', ak, 'st', 'wrap_up', 'since', ARGV[3], 'call', '', 'misses', 0)
redis.call('ZADD', P..'wrap', tonumber(ARGV[4]), a)
if tonumber(ARGV[5]) > 0 then
  redis.call('LPUSH', P..'ht', ARGV[5])
  redis.call('LTRIM', P..'ht', 0, 49)
end
return 1
"""
)

# ARGV: sid, to_agent, now_ms. A cold transfer to another agent: the caller (whose agent
# already ended their part, so done, or still bridged) now talks with to_agent, who must be
# available. Returns 1 when handed over.
HANDOVER = (
    _HELPERS
    + """
local sid, b = ARGV[1], ARGV[2]
local ck = P..'c:'..sid
local st = redis.call('HGET', ck, 'st')
if st ~= 'bridged' and st ~= 'done' then return 0 end
local bk = P..'a:'..b
if redis.call('HGET', bk, 'st') ~= 'available' then return 0 end
leave_pools(b)
redis.call('HSET', bk, 'st', 'on_call', 'since', ARGV[3], 'call', sid, 'misses', 0)
redis.call('HSET', ck, 'st', 'bridged', 'agent', b)
return 1
"""
)

# ARGV: sid, now_ms, new_state (gone, callback, timeout). A caller leaves while waiting or
# being offered. Returns {previous state, wait ms}.
LEAVE = (
    _HELPERS
    + """
local sid, now, new = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local ck = P..'c:'..sid
local f = redis.call('HMGET', ck, 'st', 'agent', 'arr')
local st = f[1]
if st ~= 'waiting' and st ~= 'offered' then return {st or '', 0} end
unqueue(sid)
if st == 'offered' then
  local a = f[2]
  local ak = P..'a:'..a
  if redis.call('HGET', ak, 'call') == sid and redis.call('HGET', ak, 'st') == 'ringing' then
    leave_pools(a)
    make_available(a, now)
  end
end
redis.call('HSET', ck, 'st', new, 'agent', '')
return {st, now - tonumber(f[3])}
"""
)

# ARGV: now_ms, limit_ms, max. Callers who reached the wait limit leave (state timeout).
TIMEOUTS = (
    _HELPERS
    + """
local now, limit, maxn = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', P..'w', '-inf', now - limit, 'LIMIT', 0, maxn)
local out = {}
for _, sid in ipairs(due) do
  local ck = P..'c:'..sid
  if redis.call('HGET', ck, 'st') == 'waiting' then
    unqueue(sid)
    redis.call('HSET', ck, 'st', 'timeout')
    out[#out + 1] = sid
  else
    redis.call('ZREM', P..'w', sid)
  end
end
return out
"""
)


# ARGV: sid, step_ms. A supervisor moves a waiting caller ahead of everyone waiting (their
# score becomes the lowest one less step_ms). Returns the new score, or '' when not waiting.
PROMOTE = (
    _HELPERS
    + """
local sid = ARGV[1]
local ck = P..'c:'..sid
local f = redis.call('HMGET', ck, 'st', 'q', 'score')
if f[1] ~= 'waiting' then return '' end
local best = tonumber(f[3])
for _, q in ipairs({'es', 'x', 'qu', 'ay'}) do
  local head = redis.call('ZRANGE', P..'q:'..q, 0, 0, 'WITHSCORES')
  if #head > 0 and tonumber(head[2]) < best then best = tonumber(head[2]) end
end
local score = best - tonumber(ARGV[2])
redis.call('ZADD', P..'q:'..f[2], score, sid)
redis.call('HSET', ck, 'score', score)
return tostring(score)
"""
)


# No ARGV. Read only: how many callers wait, by class and by language (every waiting set, each
# caller's hash read here, so the board never moves 5,000 hashes over the network).
# Returns {total, preferential, authority, normal, es, qu, ay}.
LINE_COUNTS = """
local P = 'rt:'
local by = {preferential = 0, authority = 0, normal = 0, es = 0, qu = 0, ay = 0}
local total = 0
for _, q in ipairs({'es', 'x', 'qu', 'ay'}) do
  for _, sid in ipairs(redis.call('ZRANGE', P..'q:'..q, 0, -1)) do
    local f = redis.call('HMGET', P..'c:'..sid, 'cls', 'lang')
    local c = f[1] or 'normal'
    local l = f[2] or 'es'
    if by[c] == nil then c = 'normal' end
    if by[l] == nil then l = 'es' end
    by[c] = by[c] + 1
    by[l] = by[l] + 1
    total = total + 1
  end
end
return {total, by.preferential, by.authority, by.normal, by.es, by.qu, by.ay}
"""


class Scripts:
    """The scripts registered on one Redis client (cached per client)."""

    def __init__(self, client: redis.Redis) -> None:
        self.enqueue = client.register_script(ENQUEUE)
        self.requeue = client.register_script(REQUEUE)
        self.match = client.register_script(MATCH)
        self.agent_set = client.register_script(AGENT_SET)
        self.answered = client.register_script(ANSWERED)
        self.no_answer = client.register_script(NO_ANSWER)
        self.ended = client.register_script(ENDED)
        self.handover = client.register_script(HANDOVER)
        self.leave = client.register_script(LEAVE)
        self.timeouts = client.register_script(TIMEOUTS)
        self.promote = client.register_script(PROMOTE)
        self.line_counts = client.register_script(LINE_COUNTS)


@functools.cache
def scripts(client: redis.Redis) -> Scripts:
    return Scripts(client)


def text(value: Any) -> str:
    """A Redis reply value as str."""
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
