-- wrk script: PUT a 100-byte value to one of 1000 keys, as metcd-bench --op put does.
-- wrk -t2 -c64 -d10s -s src/bench/wrk-put.lua http://127.0.0.1:2379
local value = "value=" .. string.rep("x", 100)
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = value
local counter = 0
request = function()
    counter = counter + 1
    return wrk.format(nil, "/v2/keys/bench/k" .. (counter % 1000))
end
