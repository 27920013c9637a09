-- wrk -s bench/wrk/events_single.lua: one event per POST /api/v1/events (see _events.lua).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local events = dofile(here .. "_events.lua")

function init(args)
   request = events.generator(nil)
end
