-- wrk script for bench/serve.sh: POSTs one file as every request's body and prints one machine-readable line
-- when the run is over. Environment (each wrk thread has its own Lua state, so it reads these in init()):
--   WRK_BODY          the file sent as the body (read in binary)
--   WRK_CONTENT_TYPE  its Content-Type (default application/json)
-- The line: "wrk-result requests=N seconds=S rps=R p50_ms=A p99_ms=B non2xx=C socket_errors=D"; non2xx counts
-- statuses above 399 (wrk's "Non-2xx or 3xx responses"), socket_errors connect, read, write and timeouts.
-- No response() function: wrk then skips parsing the answers.
function init(args)
  local path = os.getenv("WRK_BODY")
  local file = assert(io.open(path, "rb"), "cannot read WRK_BODY " .. tostring(path))
  wrk.body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") or "application/json"
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "wrk-result requests=%d seconds=%.3f rps=%.2f p50_ms=%.3f p99_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
