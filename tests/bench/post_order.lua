-- wrk script: POST /v1/orders as a storefront sends it, with an Idempotency-Key, a new
-- merchant_uid for every request (PREFIX-THREAD-COUNTER) and the bench API key.
--
-- Environment (besides wrk_common.lua's): MG_BENCH_DIR, MG_BENCH_API_KEY, MG_BENCH_PREFIX (new
-- for every run of wrk, so that no two runs share a merchant_uid).
dofile((os.getenv("MG_BENCH_DIR") or "tests/bench") .. "/wrk_common.lua")

local prefix = os.getenv("MG_BENCH_PREFIX")
local counter = 0
local headers = {
    ["Authorization"] = "Bearer " .. os.getenv("MG_BENCH_API_KEY"),
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
}

function request()
    counter = counter + 1
    local uid = string.format("%s-%d-%d", prefix, thread_id, counter)
    headers["Idempotency-Key"] = "idem-" .. uid
    local body = string.format('{"merchant_uid":"%s","name":"bench order","amount":%d}', uid,
                               1000 + counter % 100000)
    return wrk.format("POST", "/v1/orders", headers, body)
end
