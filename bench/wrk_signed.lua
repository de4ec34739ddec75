-- wrk script for bench/run.py: replays pre-signed Twilio webhook requests and reports as JSON.
--
-- Twilio signs each request (HMAC-SHA1 over URL + form), which Lua cannot compute here, so
-- run.py writes the requests ready-signed, one per line: "<path> <signature> <form body>".
-- Environment:
--   BENCH_REQUESTS  that file; requests are sent in order, cycling, one sequence per thread
--   BENCH_MAX       stop a thread after this many responses (the count bound; -d is the time bound)
--   BENCH_REPORT    where done() writes the JSON report (percentiles in microseconds)

local requests = {}
local position = 0
local responses = 0
-- Global, not local: done() reads it from each thread with thread:get, which sees globals only.
statuses = {}
local max_responses = tonumber(os.getenv("BENCH_MAX") or "0")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(os.getenv("BENCH_REQUESTS"), "r"))
  for line in file:lines() do
    local path, signature, body = line:match("^(%S+) (%S+) (.*)$")
    if path then
      local headers = {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = signature,
      }
      table.insert(requests, wrk.format("POST", path, headers, body))
    end
  end
  file:close()
  assert(#requests > 0, "no requests in " .. tostring(os.getenv("BENCH_REQUESTS")))
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function response(status, headers, body)
  responses = responses + 1
  statuses[status] = (statuses[status] or 0) + 1
  if max_responses > 0 and responses >= max_responses then
    wrk.thread:stop()
  end
end

local function status_counts()
  local merged = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses") or {}
    for status, count in pairs(counts) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests_stats)
  local grid = {}
  for p = 0, 99 do table.insert(grid, p) end
  for _, p in ipairs({99.5, 99.9, 99.99, 100}) do table.insert(grid, p) end
  local points = {}
  for _, p in ipairs(grid) do
    -- percentile(100) answers 0 in wrk 4.1: the ends come from min and max instead
    local value = (p == 0 and latency.min) or (p == 100 and latency.max) or latency:percentile(p)
    table.insert(points, string.format("[%s, %d]", tostring(p), value))
  end
  local errors = summary.errors
  local report = string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"statuses": %s, "latency_us": {"min": %d, "max": %d, "mean": %.1f, "stdev": %.1f, "percentiles": [%s]}}',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    status_counts(), latency.min, latency.max, latency.mean, latency.stdev, table.concat(points, ", "))
  local out = assert(io.open(os.getenv("BENCH_REPORT"), "w"))
  out:write(report)
  out:close()
end
