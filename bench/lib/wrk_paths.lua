-- wrk script: cycles through the request paths of $WRK_PATHS (one a line), and prints a
-- JSON summary line (prefixed "WRK_JSON ") at the end for bench/run.sh to parse.
-- Latencies are wrk's (per request, from send to full response), in microseconds.

local paths = {}
local file = assert(io.open(os.getenv("WRK_PATHS"), "r"))
for line in file:lines() do
    if #line > 0 then paths[#paths + 1] = line end
end
file:close()

local counter = 0
local thread_count = 0

setup = function(thread)
    thread:set("offset", thread_count * 9973)
    thread_count = thread_count + 1
end

request = function()
    counter = counter + 1
    local path = paths[((counter + (offset or 0)) % #paths) + 1]
    return wrk.format("GET", path)
end

done = function(summary, latency, requests)
    local errors = summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.status + summary.errors.timeout
    io.write(string.format(
        'WRK_JSON {"requests": %d, "seconds": %.6f, "p50_us": %d, "p99_us": %d, ' ..
        '"max_us": %d, "errors": %d, "non_2xx": %d}\n',
        summary.requests, summary.duration / 1e6, latency:percentile(50),
        latency:percentile(99), latency.max, errors, summary.errors.status))
end
