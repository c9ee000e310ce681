-- wrk script for the jwtguard HTTP benchmark.
-- Sends GET requests whose Authorization header rotates through a token file
-- (one token per line), and prints one machine-readable summary line at the end.
--   wrk -t1 -c32 -d5s -s bench/wrk_rotate.lua http://127.0.0.1:PORT/ -- TOKEN_FILE

local prepared = {}
local position = 0

function init(args)
  for token in io.lines(args[1]) do
    prepared[#prepared + 1] = wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
  end
  if #prepared == 0 then
    error("the token file is empty")
  end
end

function request()
  position = position % #prepared + 1
  return prepared[position]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
