-- post.lua: a wrk script that POSTs Telegram webhook updates.
--
-- Every request is a different, valid Update as the Bot API sends it to a
-- webhook: a text message in a private chat, with its own update_id and
-- message_id, from one of USERS customers whose ids are above 2^32 (as
-- Telegram's are; they stay below 2^53 so Lua's doubles hold them).  The
-- texts are customer questions in English and Chinese, some naming an
-- order of etc/demo/orders.csv.  Each request carries Content-Type:
-- application/json and the X-Telegram-Bot-Api-Secret-Token header.
--
-- Ids are unique across wrk's threads: thread T of N numbers its requests
-- n = T, T + N, T + 2N, ...; the update_id is BASE + n and the message_id
-- 1 + n.  kefu drops a message whose chat and message id it already has,
-- so a second run against the same database needs a larger BASE (the run
-- script gives every run a fresh database).
--
-- At the end, done() prints one line for the run script:
--   tgbench ok=2XX bad=NON2XX requests=... duration_us=... connect=...
--   read=... write=... status=... timeout=...
-- where ok and bad are counted by response() in every thread.
--
-- usage: wrk -t2 -c16 -d10s --latency -s post.lua URL -- [SECRET [USERS
--        [BASE]]]   (defaults: bench-secret, 1000, 700000000)

-- The main state's list of threads.  Each thread's state gets the globals
-- tid (0, 1, ...) and nthreads; no local may shadow them.
local threads = {}

-- Runs in the main state once per thread, before the threads start.
function setup(thread)
	thread:set("tid", #threads)
	table.insert(threads, thread)
	for _, t in ipairs(threads) do
		t:set("nthreads", #threads)
	end
end

local questions = {
	{ "en", "where is my order 20261125002" },
	{ "en", "hi, my package still has not arrived, can you check?" },
	{ "en", "how long does delivery to Berlin take" },
	{ "en", "I want to return the shoes I bought last week" },
	{ "en", "when will I get my refund for order 20261124003" },
	{ "en", "can I cancel my order please" },
	{ "en", "my card was charged twice for the same order" },
	{ "en", "is the blue jacket in size M back in stock?" },
	{ "en", "how much is shipping to Canada" },
	{ "en", "I need to change the delivery address" },
	{ "en", "can you send me an invoice for my company" },
	{ "en", "the headphones stopped working, are they under warranty" },
	{ "en", "I cannot log in to my account, password reset does not work" },
	{ "en", "this is the third time I ask, nobody answers me" },
	{ "en", "thanks, that helps" },
	{ "en", "hello" },
	{ "zh", "我的订单20261125002到哪里了" },
	{ "zh", "请问运费是多少" },
	{ "zh", "我想退货，怎么操作" },
	{ "zh", "退款什么时候到账" },
	{ "zh", "能帮我改一下收货地址吗" },
	{ "zh", "这个商品什么时候有货" },
	{ "zh", "付款失败了怎么办" },
	{ "zh", "谢谢" },
}

local users = 1000
local secret = "bench-secret"
local base = 700000000
local seq = 0
local path
-- wrk.format sets Host and Content-Length in the table it is given, so
-- one table serves every request.
local headers = {}

-- Runs in each thread's state with the arguments after "--".
function init(args)
	secret = args[1] or secret
	users = tonumber(args[2]) or users
	base = tonumber(args[3]) or base
	path = wrk.path
	headers["Content-Type"] = "application/json"
	headers["X-Telegram-Bot-Api-Secret-Token"] = secret
	ok = 0
	bad = 0
end

-- One Update JSON.  The texts are constants without quotes or
-- backslashes, so they need no escaping.
local function update(n)
	local u = n % users
	local uid = 5100000000 + u * 977111
	local q = questions[n % #questions + 1]
	return string.format('{"update_id":%.0f,"message":{"message_id":%.0f,' ..
	    '"from":{"id":%.0f,"is_bot":false,"first_name":"Customer",' ..
	    '"last_name":"%d","username":"customer_%d","language_code":"%s"},' ..
	    '"chat":{"id":%.0f,"first_name":"Customer","last_name":"%d",' ..
	    '"username":"customer_%d","type":"private"},"date":%d,' ..
	    '"text":"%s"}}', base + n, 1 + n, uid, u, u, q[1], uid, u, u,
	    os.time(), q[2])
end

function request()
	local n = seq * nthreads + tid
	seq = seq + 1
	return wrk.format("POST", path, headers, update(n))
end

function response(status, headers, body)
	if status >= 200 and status < 300 then
		ok = ok + 1
	else
		bad = bad + 1
	end
end

-- Runs in the main state after the run.
function done(summary, latency, requests)
	local ok_total, bad_total = 0, 0
	for _, t in ipairs(threads) do
		ok_total = ok_total + t:get("ok")
		bad_total = bad_total + t:get("bad")
	end
	local e = summary.errors
	io.write(string.format("tgbench ok=%d bad=%d requests=%d " ..
	    "duration_us=%d connect=%d read=%d write=%d status=%d " ..
	    "timeout=%d\n", ok_total, bad_total, summary.requests,
	    summary.duration, e.connect, e.read, e.write, e.status,
	    e.timeout))
end
