-- The wrk script of the HTTP benchmarks (bench/harness/wrk.py runs it).
--
--   wrk ... -s wrk.lua URL -- fixed USER_AGENT MARKERS METHOD PATH BODY
--   wrk ... -s wrk.lua URL -- file  USER_AGENT MARKERS DATA_FILE THREADS
--
-- fixed: every request is the same one. file: DATA_FILE has one request a line (path, session
-- cookie and form body, tab-separated); each wrk thread has its own Lua state, and thread `tid`
-- (0-based, given by setup()) takes the lines i with i % THREADS == tid and sends each of them once,
-- in order. When its lines run out it stops (the run is then void: the caller says so).
-- MARKERS is "name=substring,...": a response whose Location holds the substring counts under name.
-- done() prints one line, "BENCH_JSON {...}", with wrk's figures and each thread's counts.

local threads, counter = {}, 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local queue, cursor, fixed, fallback, wanted = {}, 0, nil, nil, {}
sent, answered, exhausted, fallbacks = 0, 0, 0, 0
statuses, markers = {}, {}

function init(args)
  local ua = args[2]
  for name, marker in string.gmatch(args[3] or "", "([^=,]+)=([^,]+)") do wanted[name] = marker end
  fallback = wrk.format("GET", "/bench/hello", {["User-Agent"] = ua})
  if args[1] == "fixed" then
    local headers = {["User-Agent"] = ua}
    if args[6] ~= "" then headers["Content-Type"] = "application/x-www-form-urlencoded" end
    fixed = wrk.format(args[4], args[5], headers, args[6] ~= "" and args[6] or nil)
    return
  end
  local nthreads, i = tonumber(args[5]), 0
  for line in io.lines(args[4]) do
    if i % nthreads == tid then
      local path, cookie, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
      queue[#queue + 1] = wrk.format("POST", path, {
        ["User-Agent"] = ua,
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Cookie"] = "session=" .. cookie,
      }, body)
    end
    i = i + 1
  end
end

function request()
  if fixed then
    sent = sent + 1
    return fixed
  end
  cursor = cursor + 1
  if cursor > #queue then
    -- request() must return one: a hello, which response() leaves out of the counts
    exhausted = 1
    if wrk.thread then wrk.thread:stop() end
    return fallback
  end
  sent = sent + 1
  return queue[cursor]
end

function response(status, headers, body)
  if body == "hello" and not fixed then
    fallbacks = fallbacks + 1
    return
  end
  answered = answered + 1
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  local location = headers["Location"] or headers["location"]
  if location and not fixed then
    for name, marker in pairs(wanted) do
      if string.find(location, marker, 1, true) then markers[name] = (markers[name] or 0) + 1 end
    end
  end
end

local function encode(value)
  if type(value) == "table" then
    local parts = {}
    for k, v in pairs(value) do parts[#parts + 1] = string.format("%q:%s", tostring(k), encode(v)) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(value) == "number" then
    return string.format("%.17g", value)
  elseif value == nil then
    return "null"
  end
  return string.format("%q", tostring(value))
end

function done(summary, latency, requests)
  local out = {
    requests = summary.requests, duration_us = summary.duration, bytes = summary.bytes,
    errors = summary.errors,
    latency_us = {p50 = latency:percentile(50), p90 = latency:percentile(90),
                  p99 = latency:percentile(99), max = latency.max, mean = latency.mean},
    threads = {},
  }
  for i, thread in ipairs(threads) do
    out.threads[tostring(i)] = {
      tid = thread:get("tid"), sent = thread:get("sent"), answered = thread:get("answered"),
      exhausted = thread:get("exhausted"), fallbacks = thread:get("fallbacks"),
      statuses = thread:get("statuses"), markers = thread:get("markers"),
    }
  end
  io.write("BENCH_JSON " .. encode(out) .. "\n")
end
