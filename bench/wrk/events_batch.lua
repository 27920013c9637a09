-- wrk -s bench/wrk/events_batch.lua: BENCH_BATCH (default 1000) events per POST (see _events.lua).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local events = dofile(here .. "_events.lua")

function init(args)
   request = events.generator(tonumber(os.getenv("BENCH_BATCH") or "") or 1000)
end
