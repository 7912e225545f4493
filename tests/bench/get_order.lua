-- wrk script: GET /v1/orders/{merchant_uid} over the orders tests/bench/bench.py created, picked
-- at random, with the bench API key.
--
-- Environment (besides wrk_common.lua's): MG_BENCH_DIR, MG_BENCH_API_KEY, MG_BENCH_GET_BASE and
-- MG_BENCH_GET_ORDERS (the orders' merchant_uids are BASE+1 .. BASE+ORDERS).
dofile((os.getenv("MG_BENCH_DIR") or "tests/bench") .. "/wrk_common.lua")

local base = tonumber(os.getenv("MG_BENCH_GET_BASE"))
local count = tonumber(os.getenv("MG_BENCH_GET_ORDERS"))
local headers = {
    ["Authorization"] = "Bearer " .. os.getenv("MG_BENCH_API_KEY"),
    ["Accept"] = "application/json",
}

function init(args)
    mg_seed_random()
end

function request()
    return wrk.format("GET", string.format("/v1/orders/%d", base + math.random(count)), headers)
end
