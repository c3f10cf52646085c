-- bench/lib/load.lua - the wrk script of bench/run (issue 7).
--
-- One script for every scenario; the environment chooses it, so no token
-- ever appears on a command line:
--   BENCH_MODE   nginx | tresor-get | tresor-list | tresor-resolve1 |
--                tresor-resolve10 | tresor-create | tresor-mix |
--                etcd-range | etcd-range100 | etcd-put | etcd-mix
--   BENCH_TOKEN  bearer token (tresor modes)
--   BENCH_N      size of the data set: names s00000.. / keys k/00000..
--   BENCH_TAG    unique per wrk run, so that created names never collide
--
-- Reads cycle over the whole data set (each thread from its own offset);
-- writes make a new name or key per request. done() prints one line
-- "BENCHJSON {...}" that bench/lib/report.py reads.

local mode = os.getenv("BENCH_MODE") or "nginx"
local token = os.getenv("BENCH_TOKEN") or ""
local n = tonumber(os.getenv("BENCH_N") or "10000")
local tag = os.getenv("BENCH_TAG") or "t"

-- base64 (the etcd JSON gateway takes keys and values in base64)
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(data)
	return ((data:gsub(".", function(x)
		local r, b = "", x:byte()
		for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
		return r
	end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
		if #x < 6 then return "" end
		local c = 0
		for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
		return b64chars:sub(c + 1, c + 1)
	end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

local function sname(i) return string.format("s%05d", i % n) end
local function ekey(i) return string.format("k/%05d", i % n) end

local json_hdr = { ["Content-Type"] = "application/json" }
local tresor_hdr = { ["Authorization"] = "Bearer " .. token }
local tresor_json_hdr = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
local secrets_path = "/v2/workspaces/default/secrets"

-- ~300 bytes, about the size of a tresor metadata document
local etcd_value = b64(string.rep("v", 300))

-- setup() runs in the main Lua state once per thread: give each an id
local threads = {}
local next_id = 0
function setup(thread)
	thread:set("id", next_id)
	next_id = next_id + 1
	table.insert(threads, thread)
end

local reqs, nreqs, i, counter = nil, 0, 0, 0

local function get_req(k) return wrk.format("GET", secrets_path .. "/" .. sname(k), tresor_hdr) end
local function range_req(k)
	return wrk.format("POST", "/v3/kv/range", json_hdr, '{"key":"' .. b64(ekey(k)) .. '"}')
end
local function resolve_req(k, count)
	local env = {}
	for j = 0, count - 1 do
		env[#env + 1] = string.format('{"envvar_name":"E%d","secret_name":"%s"}', j, sname(k * count + j))
	end
	return wrk.format("POST", "/v2/workspaces/default/resolve", tresor_json_hdr,
		'{"env":[' .. table.concat(env, ",") .. "]}")
end
local function create_req()
	counter = counter + 1
	local body = string.format('{"name":"c-%s-%d-%d","type":"opaque","value":"hf_%040d"}', tag, id, counter, counter)
	return wrk.format("POST", secrets_path, tresor_json_hdr, body)
end
local function put_req()
	counter = counter + 1
	local key = b64(string.format("p/%s/%d/%d", tag, id, counter))
	return wrk.format("POST", "/v3/kv/put", json_hdr, '{"key":"' .. key .. '","value":"' .. etcd_value .. '"}')
end

-- precomputed read requests, cycled
local builders = {
	["tresor-get"] = get_req,
	["tresor-mix"] = get_req,
	["tresor-resolve1"] = function(k) return resolve_req(k, 1) end,
	["tresor-resolve10"] = function(k) return resolve_req(k, 10) end,
	["etcd-range"] = range_req,
	["etcd-mix"] = range_req,
}

function init(args)
	local build = builders[mode]
	if build then
		reqs = {}
		nreqs = (mode == "tresor-resolve10") and math.floor(n / 10) or n
		for k = 0, nreqs - 1 do reqs[k + 1] = build(k) end
		i = math.floor(id * nreqs / 2) -- threads start at different places
	end
end

local function next_read()
	i = i + 1
	return reqs[(i % nreqs) + 1]
end

if mode == "nginx" then
	wrk.method = "GET"
	wrk.path = "/secret.json"
elseif mode == "tresor-list" then
	wrk.method = "GET"
	wrk.path = secrets_path .. "?page_size=100"
	wrk.headers["Authorization"] = "Bearer " .. token
elseif mode == "etcd-range100" then
	wrk.method = "POST"
	wrk.path = "/v3/kv/range"
	wrk.headers["Content-Type"] = "application/json"
	wrk.body = '{"key":"' .. b64("k/") .. '","range_end":"' .. b64("k0") .. '","limit":100}'
elseif mode == "tresor-create" then
	request = create_req
elseif mode == "etcd-put" then
	request = put_req
elseif mode == "tresor-mix" then
	local m = 0
	request = function()
		m = m + 1
		if m % 10 == 0 then return create_req() end
		return next_read()
	end
elseif mode == "etcd-mix" then
	local m = 0
	request = function()
		m = m + 1
		if m % 10 == 0 then return put_req() end
		return next_read()
	end
elseif builders[mode] then
	request = next_read
else
	error("bench/lib/load.lua: unknown BENCH_MODE " .. mode)
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'BENCHJSON {"mode":"%s","requests":%d,"duration_us":%d,"bytes":%d,' ..
		'"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
		'"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
		mode, summary.requests, summary.duration, summary.bytes,
		e.connect, e.read, e.write, e.status, e.timeout,
		latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
		latency:percentile(99.9), latency.max))
end
