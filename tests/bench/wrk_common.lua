-- Shared by the wrk scripts of tests/bench (loaded with dofile from the directory named by
-- MG_BENCH_DIR): thread numbering, an optional fixed request rate, and one parseable result line.
--
-- Environment:
--   MG_BENCH_RATE     requests per second over all threads; unset or 0 for as fast as possible
--   MG_BENCH_THREADS  wrk's -t (the rate is split evenly between threads)
--
-- wrk cannot pace by itself (wrk2 is not in Debian), so a paced run gives each thread a schedule
-- of send slots, one every THREADS/RATE seconds, and delay() holds each connection's next request
-- until the next free slot. A slot that has already passed when a connection becomes free is
-- sent at once and counted as late: latencies are measured from the actual send, so when many
-- sends are late the run was not open-loop and its percentiles understate the wait.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } mg_timespec;
int clock_gettime(int clock_id, mg_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("mg_timespec")

local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
    return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

-- Main state: every thread, to read their counters in done().
local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("thread_id", #threads)
end

-- Thread states: counters read by done() through thread:get.
paced = 0
late = 0

local rate = tonumber(os.getenv("MG_BENCH_RATE") or "") or 0
if rate > 0 then
    local thread_count = tonumber(os.getenv("MG_BENCH_THREADS") or "1")
    local interval_ms = 1000 * thread_count / rate
    -- A slot more than this behind when its connection becomes free counts as late (wrk's
    -- timers have millisecond resolution, so smaller lags are noise).
    local late_after_ms = 2
    local next_slot = nil

    function delay()
        local now = now_ms()
        if next_slot == nil then
            -- Threads start at different offsets, so their slots interleave.
            next_slot = now + math.random() * interval_ms
        end
        local slot = next_slot
        next_slot = next_slot + interval_ms
        paced = paced + 1
        if slot >= now then
            return slot - now
        end
        if now - slot > late_after_ms then
            late = late + 1
        end
        return 0
    end
end

function mg_seed_random()
    math.randomseed(os.time() * 1000 + (thread_id or 0))
end

-- One line, key=value pairs, for tests/bench/bench.py. Latencies in milliseconds. non2xx is
-- wrk's count of responses with a status of 400 or more (no route answers 1xx or 3xx).
function done(summary, latency, requests)
    local total_late, total_paced = 0, 0
    for _, thread in ipairs(threads) do
        total_late = total_late + (thread:get("late") or 0)
        total_paced = total_paced + (thread:get("paced") or 0)
    end
    local seconds = summary.duration / 1e6
    local errors = summary.errors
    io.write(string.format(
        "MG_RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f " ..
        "max_ms=%.3f non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d " ..
        "paced=%d late=%d\n",
        summary.requests, seconds, summary.requests / seconds,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000, errors.status, errors.connect,
        errors.read, errors.write, errors.timeout, total_paced, total_late))
end
