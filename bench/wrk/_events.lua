-- Shared by events_single.lua and events_batch.lua: builds POST /api/v1/events requests.
--
-- Environment (read once per wrk thread, in init):
--   BENCH_API_KEY      sent as "Authorization: Bearer <key>"; empty or unset: no header
--   BENCH_CONTACTS     contact emails are u<n>@bench.example, n uniform in [1, N] (default 10000)
--   BENCH_OCCURRED_AT  occurred_at of every event (default: one minute ago, UTC)
--   BENCH_BATCH        events per request body for the batch script (default 1000)
--
-- Idempotency keys are "<prefix>-<counter>": a 48-bit prefix read from /dev/urandom by each
-- thread (so threads and successive runs never collide) and a per-thread counter, one per event.
-- The constant parts of the body and of the request head are built once; per event only the
-- contact number and the counter are written into a preallocated table, joined by table.concat.

local M = {}

local function random_prefix()
   local source = assert(io.open("/dev/urandom", "rb"))
   local bytes = source:read(6)
   source:close()
   local hex, seed = {}, 0
   for i = 1, #bytes do
      local b = bytes:byte(i)
      hex[i] = string.format("%02x", b)
      seed = (seed * 256 + b) % 2147483647
   end
   return table.concat(hex), seed
end

local function head(path)
   local host = wrk.headers["Host"]
   if not host then
      host = wrk.host
      if host:find(":") then host = "[" .. host .. "]" end
      if wrk.port then host = host .. ":" .. wrk.port end
   end
   local key = os.getenv("BENCH_API_KEY") or ""
   local lines = { "POST " .. path .. " HTTP/1.1", "Host: " .. host }
   if key ~= "" then lines[#lines + 1] = "Authorization: Bearer " .. key end
   lines[#lines + 1] = "Content-Type: application/json"
   lines[#lines + 1] = "Content-Length: "
   return table.concat(lines, "\r\n")
end

-- A request() function producing BATCH events per body; batch = nil: one bare event per body.
function M.generator(batch)
   local prefix, seed = random_prefix()
   math.randomseed(seed)
   local contacts = tonumber(os.getenv("BENCH_CONTACTS") or "") or 10000
   local occurred_at = os.getenv("BENCH_OCCURRED_AT") or ""
   if occurred_at == "" then occurred_at = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 60) end
   local request_head = head(wrk.path)
   local random, concat = math.random, table.concat

   -- One event is A .. n .. B .. counter .. C; slots 2 and 4 of each event change.
   local a = '{"type":"page_view","email":"u'
   local b = '@bench.example","occurred_at":"' .. occurred_at
      .. '","properties":{"path":"/pricing"},"idempotency_key":"' .. prefix .. '-'
   local c = '"}'
   local events = batch or 1
   local parts = {}
   for i = 0, events - 1 do
      parts[i * 5 + 1] = (i == 0) and a or ("," .. a)
      parts[i * 5 + 2] = 0
      parts[i * 5 + 3] = b
      parts[i * 5 + 4] = 0
      parts[i * 5 + 5] = c
   end
   if batch then
      parts[1] = '{"events":[' .. a
      parts[events * 5] = c .. "]}"
   end

   local counter = 0
   return function()
      for i = 0, events - 1 do
         counter = counter + 1
         parts[i * 5 + 2] = random(contacts)
         parts[i * 5 + 4] = counter
      end
      local body = concat(parts)
      return request_head .. #body .. "\r\n\r\n" .. body
   end
end

return M
