-- wrk script for the webhook load test (docs/benchmarks.md): each thread
-- sends its share of the signed deliveries benchgen wrote, in turn.
--   wrk -t2 -c64 -d20s --latency -s shopify.lua http://127.0.0.1:8080 -- webhooks.tsv
local threads, counter = {}, 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs, i = {}, 0

function init(args)
  local file, n, k = args[1], 0, 0
  local nthreads = #args >= 2 and tonumber(args[2]) or 2
  for line in io.lines(file) do
    if k % nthreads == tid then
      local sig, id, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
      n = n + 1
      reqs[n] = wrk.format("POST", "/webhooks/shopify/bench", {
        ["Content-Type"] = "application/json",
        ["X-Shopify-Topic"] = "orders/create",
        ["X-Shopify-Hmac-Sha256"] = sig,
        ["X-Shopify-Webhook-Id"] = id,
        ["X-Shopify-Shop-Domain"] = "hub-test.myshopify.com",
      }, body)
    end
    k = k + 1
  end
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
