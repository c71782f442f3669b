-- wrk script: POST Zipkin v2 JSON batches to /api/v2/spans.
-- Each request is one of 256 pre-built bodies of 20 traces x 5 spans (100 spans) with
-- random ids, so no trace grows without bound and wrk spends no time building bodies.
--   wrk -t2 -c16 -d20s --latency -s tests/load/zipkin_json.lua http://127.0.0.1:9411/api/v2/spans
local bodies = {}
local next_body = 1
local spans_per_body = 100

local function hex(count)
  local digits = {}
  for index = 1, count do
    digits[index] = string.format("%x", math.random(0, 15))
  end
  return table.concat(digits)
end

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6) + tonumber(tostring({}):sub(8), 16) % 1000003)
  local now_micros = os.time() * 1000000
  for body_index = 1, 256 do
    local spans = {}
    for trace = 1, 20 do
      local trace_id = hex(32)
      local root = hex(16)
      for index = 0, 4 do
        local id = index == 0 and root or hex(16)
        local parent = index == 0 and "" or string.format('"parentId":"%s",', root)
        spans[#spans + 1] = string.format(
          '{"traceId":"%s","id":"%s",%s"name":"op-%d","kind":"%s","timestamp":%d,"duration":%d,' ..
          '"localEndpoint":{"serviceName":"svc-%d","ipv4":"10.0.0.%d"},' ..
          '"tags":{"http.method":"GET","http.route":"/api/item/{id}","http.status_code":"200"}}',
          trace_id, id, parent, index, index == 0 and "SERVER" or "CLIENT",
          now_micros + index * 10, 1000 + index * 100, (trace + index) % 12, index + 1)
      end
    end
    bodies[body_index] = "[" .. table.concat(spans, ",") .. "]"
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("spans_per_request %d\n", spans_per_body))
end
