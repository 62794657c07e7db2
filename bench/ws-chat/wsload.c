/*
 * wsload: a load generator for kefud's widget WebSocket channel.
 *
 * It opens N client connections with libwebsockets on a libuv loop (epoll,
 * so ten thousand sockets cost nothing while idle), at most 256 handshakes
 * at a time, and has each say hello with its own visitor id.  Then:
 *
 *  idle  holds the connections open until SIGTERM or -H seconds, after
 *        printing "ready ..." so that a driver can read kefud's RSS;
 *  load  sends messages at an aggregate rate (-r msg/s) spread round-robin
 *        over the connections, one outstanding message per connection,
 *        for -W seconds of warm-up and -d seconds of measurement, and
 *        records the time from writing each message to the first bot
 *        message that follows it on that connection.
 *
 * The result is one logfmt line on stdout, "result key=value ...", with
 * the achieved rates, latency percentiles and the generator's own CPU use
 * (so a run can tell whether the generator was the bottleneck).  Frames
 * are built and parsed with json-c; every write happens in the WRITEABLE
 * callback, one frame per callback.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libwebsockets.h>
#include <uv.h>

#define MAX_HANDSHAKES	256
#define RX_MAX		65536
#define TICK_MS		1

enum conn_state {
	C_IDLE = 0,		/* not connected yet */
	C_CONNECTING,
	C_HELLO,		/* hello queued or sent */
	C_READY,
	C_DEAD
};

struct conn {
	struct lws	*wsi;
	int		 idx;
	enum conn_state	 state;
	int		 want_hello;
	int		 want_msg;	/* a message is waiting for WRITEABLE */
	int		 outstanding;	/* written, no bot reply yet */
	int		 measured;	/* sent inside the measurement window */
	double		 sent_at;	/* ms, monotonic */
	unsigned	 nsent;
	char		*rx;
	size_t		 rxlen;
};

static const char *texts[] = {
	"How do I return an item?",
	"How long does delivery take?",
	"How can I track my order?",
	"How much does shipping cost?",
	"Which payment methods do you accept?",
	"How do I change my delivery address?",
	"How long does a refund take?",
	"How do I cancel my order?",
	"I forgot my password. How do I reset it?",
	"How do I use a coupon?",
};
#define NTEXTS (sizeof texts / sizeof texts[0])

static struct {
	const char	*host;
	int		 port;
	const char	*path;
	const char	*mode;
	int		 n;
	double		 rate;
	double		 warmup;
	double		 duration;
	double		 hold;
	char		 prefix[64];
} opt = { "127.0.0.1", 8080, "/ws", "load", 1000, 2000, 3, 20, 0, "" };

static struct lws_context	*ctx;
static uv_loop_t		 loop;
static uv_timer_t		 tick;
static uv_signal_t		 sigterm, sigint;
static struct conn		*conns;
static int			 next_connect, handshaking;
static int			 nready, nfailed, nclosed;
static int			 rr;
static int			 all_ready_reported;
static int			 stopping;

static double			 t_start, t_ready, t_load, t_measure, t_end;
static double			 sent_total, sent_target;
static uint64_t			 nwritten;	/* message frames written */
static uint64_t			 nacks, nreplies, nerrors, nrate_limited;
static uint64_t			 nstalls, nmeasured_sent, nmeasured_over;
static uint64_t			 nwindow_done;
static double			*lat;
static size_t			 nlat, lat_size;

/* Monotonic time in milliseconds. */
static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
}

/* Our own CPU time so far, in seconds. */
static double
cpu_seconds(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

/* Record one latency sample. */
static void
lat_add(double ms)
{
	if (nlat == lat_size) {
		lat_size = lat_size == 0 ? 65536 : lat_size * 2;
		if ((lat = realloc(lat, lat_size * sizeof *lat)) == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	lat[nlat++] = ms;
}

/* qsort comparator for doubles. */
static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/* The q-quantile of the sorted latencies (nearest rank). */
static double
quantile(double q)
{
	size_t	i;

	if (nlat == 0)
		return (-1);
	i = (size_t)(q * (double)nlat);
	if (i >= nlat)
		i = nlat - 1;
	return (lat[i]);
}

/* Start connections until MAX_HANDSHAKES are in progress. */
static void
connect_more(void)
{
	struct lws_client_connect_info	 i;
	struct conn			*c;

	while (handshaking < MAX_HANDSHAKES && next_connect < opt.n) {
		c = &conns[next_connect++];
		memset(&i, 0, sizeof i);
		i.context = ctx;
		i.address = opt.host;
		i.port = opt.port;
		i.path = opt.path;
		i.host = opt.host;
		i.origin = opt.host;
		i.userdata = c;
		i.pwsi = &c->wsi;
		c->state = C_CONNECTING;
		handshaking++;
		if (lws_client_connect_via_info(&i) == NULL && c->state ==
		    C_CONNECTING) {
			c->state = C_DEAD;
			handshaking--;
			nfailed++;
		}
	}
}

/* Write the frame a connection is waiting to send. */
static int
conn_write(struct conn *c)
{
	struct json_object	*o;
	const char		*s;
	unsigned char		*buf;
	char			 id[64], visitor[96];
	size_t			 len;
	int			 n;

	o = json_object_new_object();
	if (c->want_hello) {
		snprintf(visitor, sizeof visitor, "%s%d", opt.prefix, c->idx);
		json_object_object_add(o, "type",
		    json_object_new_string("hello"));
		json_object_object_add(o, "visitor",
		    json_object_new_string(visitor));
		json_object_object_add(o, "last_seq", json_object_new_int(0));
		c->want_hello = 0;
	} else if (c->want_msg) {
		snprintf(id, sizeof id, "m%u", c->nsent);
		json_object_object_add(o, "type",
		    json_object_new_string("message"));
		json_object_object_add(o, "id", json_object_new_string(id));
		json_object_object_add(o, "text", json_object_new_string(
		    texts[(c->idx + c->nsent) % NTEXTS]));
		c->want_msg = 0;
		c->nsent++;
		nwritten++;
	} else {
		json_object_put(o);
		return (0);
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	len = strlen(s);
	if ((buf = malloc(LWS_PRE + len)) == NULL) {
		perror("malloc");
		exit(1);
	}
	memcpy(buf + LWS_PRE, s, len);
	json_object_put(o);
	if (c->outstanding)
		c->sent_at = now_ms();
	n = lws_write(c->wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT);
	free(buf);
	if (c->want_hello || c->want_msg)
		lws_callback_on_writable(c->wsi);
	return (n < (int)len ? -1 : 0);
}

/* Handle one whole frame from the server. */
static void
conn_frame(struct conn *c, const char *buf, size_t len)
{
	struct json_tokener	*tok;
	struct json_object	*o, *v;
	const char		*type, *code;
	double			 now = now_ms(), ms;

	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, buf, (int)len);
	json_tokener_free(tok);
	if (o == NULL || !json_object_object_get_ex(o, "type", &v)) {
		json_object_put(o);
		nerrors++;
		return;
	}
	type = json_object_get_string(v);
	if (strcmp(type, "ready") == 0) {
		if (c->state == C_HELLO) {
			c->state = C_READY;
			nready++;
		}
	} else if (strcmp(type, "ack") == 0)
		nacks++;
	else if (strcmp(type, "message") == 0) {
		nreplies++;
		if (c->outstanding) {
			ms = now - c->sent_at;
			c->outstanding = 0;
			if (now >= t_measure && now < t_end)
				nwindow_done++;
			if (c->measured) {
				lat_add(ms);
				nmeasured_over++;
			}
			c->measured = 0;
		}
	} else if (strcmp(type, "error") == 0) {
		nerrors++;
		if (json_object_object_get_ex(o, "code", &v)) {
			code = json_object_get_string(v);
			if (strcmp(code, "rate_limited") == 0)
				nrate_limited++;
		}
		/* A refused message gets no reply: free the slot. */
		if (c->measured)
			nmeasured_over++;
		c->outstanding = 0;
		c->measured = 0;
	}
	json_object_put(o);
}

/* The client protocol callback: one per connection event. */
static int
client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct conn	*c = user;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		handshaking--;
		c->wsi = wsi;
		c->state = C_HELLO;
		c->want_hello = 1;
		lws_callback_on_writable(wsi);
		connect_more();
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c != NULL && c->state == C_CONNECTING) {
			handshaking--;
			nfailed++;
			c->state = C_DEAD;
			if (nfailed <= 5)
				fprintf(stderr, "wsload: connection %d: %s\n",
				    c->idx, in != NULL ? (char *)in :
				    "failed");
			connect_more();
		}
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return (conn_write(c));
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (c->rxlen + len > RX_MAX)
			return (-1);
		if (c->rx == NULL && (c->rx = malloc(RX_MAX)) == NULL) {
			perror("malloc");
			exit(1);
		}
		memcpy(c->rx + c->rxlen, in, len);
		c->rxlen += len;
		if (lws_is_final_fragment(wsi) &&
		    lws_remaining_packet_payload(wsi) == 0) {
			conn_frame(c, c->rx, c->rxlen);
			c->rxlen = 0;
			free(c->rx);
			c->rx = NULL;
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c != NULL && c->state != C_DEAD) {
			if (c->state == C_READY)
				nready--;
			c->state = C_DEAD;
			c->wsi = NULL;
			nclosed++;
		}
		break;
	default:
		break;
	}
	return (0);
}

static const struct lws_protocols protocols[] = {
	{ "wsload", client_cb, 0, 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* Queue messages up to the number the rate allows by now. */
static void
send_due(double now)
{
	struct conn	*c = NULL;
	int		 scanned;

	sent_target = opt.rate * (now - t_load) / 1000.0;
	while (sent_total < sent_target) {
		for (scanned = 0; scanned < opt.n; scanned++) {
			c = &conns[rr];
			rr = (rr + 1) % opt.n;
			if (c->state == C_READY && !c->outstanding &&
			    !c->want_msg)
				break;
		}
		if (scanned == opt.n) {
			/* Every connection waits for a reply. */
			nstalls++;
			sent_total = sent_target;
			return;
		}
		c->want_msg = 1;
		c->outstanding = 1;
		c->measured = now >= t_measure && now < t_end;
		if (c->measured)
			nmeasured_sent++;
		c->sent_at = now;
		lws_callback_on_writable(c->wsi);
		sent_total += 1;
	}
}

/* Print the result line. */
static void
finish(void)
{
	double	 cpu = cpu_seconds(), wall = (now_ms() - t_start) / 1000.0;

	qsort(lat, nlat, sizeof *lat, cmp_double);
	printf("result mode=%s conns=%d ready=%d failed=%d closed=%d "
	    "connect_s=%.3f rate=%.0f duration=%.1f sent=%llu "
	    "measured_sent=%llu measured_answered=%llu acks=%llu replies=%llu "
	    "errors=%llu rate_limited=%llu stalls=%llu "
	    "throughput=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
	    "p999_ms=%.3f max_ms=%.3f cpu_s=%.2f wall_s=%.2f cpu_pct=%.1f\n",
	    opt.mode, opt.n, nready, nfailed, nclosed,
	    t_ready > 0 ? (t_ready - t_start) / 1000.0 : -1.0, opt.rate,
	    opt.duration, (unsigned long long)nwritten,
	    (unsigned long long)nmeasured_sent,
	    (unsigned long long)nlat, (unsigned long long)nacks,
	    (unsigned long long)nreplies, (unsigned long long)nerrors,
	    (unsigned long long)nrate_limited, (unsigned long long)nstalls,
	    strcmp(opt.mode, "load") == 0 ? (double)nwindow_done /
	    opt.duration : 0.0, quantile(0.50), quantile(0.90),
	    quantile(0.99), quantile(0.999), nlat > 0 ? lat[nlat - 1] : -1,
	    cpu, wall, wall > 0 ? 100.0 * cpu / wall : 0.0);
	fflush(stdout);
}

/* Print the result and let the loop wind down. */
static void
stop(void)
{
	if (stopping)
		return;
	stopping = 1;
	finish();
	uv_timer_stop(&tick);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
	lws_context_destroy(ctx);
}

/* SIGTERM or SIGINT: stop now. */
static void
on_signal(uv_signal_t *h, int signo)
{
	stop();
}

/* Every millisecond: connect, send what is due, notice the end. */
static void
on_tick(uv_timer_t *h)
{
	double	now = now_ms();

	connect_more();
	if (t_ready == 0 && next_connect == opt.n && handshaking == 0 &&
	    nready + nfailed + nclosed >= opt.n) {
		t_ready = now;
		if (!all_ready_reported) {
			all_ready_reported = 1;
			printf("ready conns=%d ready=%d failed=%d "
			    "connect_s=%.3f\n", opt.n, nready, nfailed,
			    (t_ready - t_start) / 1000.0);
			fflush(stdout);
		}
		t_load = now;
		t_measure = t_load + opt.warmup * 1000.0;
		t_end = t_measure + opt.duration * 1000.0;
	}
	if (t_ready == 0)
		return;
	if (strcmp(opt.mode, "idle") == 0) {
		if (opt.hold > 0 && now - t_ready >= opt.hold * 1000.0)
			stop();
		return;
	}
	if (now < t_end)
		send_due(now);
	else if (now >= t_end + 5000.0 || nmeasured_over >= nmeasured_sent) {
		/* Every measured message answered, or 5 s grace over. */
		stop();
	}
}

/* Print the usage and exit with status. */
static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: wsload [-m idle|load] [-n conns] [-r msg/s] [-W warmup_s]\n"
	    "              [-d duration_s] [-H hold_s] [-p visitor_prefix]\n"
	    "              [-A address] [-P port] [-u path] [-h]\n");
	exit(status);
}

/* Parse a non-negative number option. */
static double
num(const char *s)
{
	char	*end;
	double	 d;

	errno = 0;
	d = strtod(s, &end);
	if (errno != 0 || *end != '\0' || d < 0)
		usage(1);
	return (d);
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info	 info;
	void					*loops[1];
	int					 ch, i;

	while ((ch = getopt(argc, argv, "m:n:r:W:d:H:p:A:P:u:h")) != -1) {
		switch (ch) {
		case 'm':
			opt.mode = optarg;
			break;
		case 'n':
			opt.n = (int)num(optarg);
			break;
		case 'r':
			opt.rate = num(optarg);
			break;
		case 'W':
			opt.warmup = num(optarg);
			break;
		case 'd':
			opt.duration = num(optarg);
			break;
		case 'H':
			opt.hold = num(optarg);
			break;
		case 'p':
			snprintf(opt.prefix, sizeof opt.prefix, "%s", optarg);
			break;
		case 'A':
			opt.host = optarg;
			break;
		case 'P':
			opt.port = (int)num(optarg);
			break;
		case 'u':
			opt.path = optarg;
			break;
		case 'h':
			usage(0);
		default:
			usage(1);
		}
	}
	if (opt.n < 1 || (strcmp(opt.mode, "idle") != 0 &&
	    strcmp(opt.mode, "load") != 0))
		usage(1);
	if (opt.prefix[0] == '\0')
		snprintf(opt.prefix, sizeof opt.prefix, "wl%ld-",
		    (long)getpid());

	if ((conns = calloc((size_t)opt.n, sizeof *conns)) == NULL) {
		perror("calloc");
		return (1);
	}
	for (i = 0; i < opt.n; i++)
		conns[i].idx = i;

	lws_set_log_level(LLL_ERR, NULL);
	uv_loop_init(&loop);
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBUV;
	loops[0] = &loop;
	info.foreign_loops = loops;
	info.fd_limit_per_thread = (unsigned)opt.n + 64;
	info.timeout_secs = 60;
	if ((ctx = lws_create_context(&info)) == NULL) {
		fprintf(stderr, "wsload: lws_create_context failed\n");
		return (1);
	}

	uv_signal_init(&loop, &sigterm);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_init(&loop, &sigint);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_timer_init(&loop, &tick);
	t_start = now_ms();
	uv_timer_start(&tick, on_tick, 0, TICK_MS);
	connect_more();

	uv_run(&loop, UV_RUN_DEFAULT);
	/* lws closes its handles while the loop runs; finish it. */
	lws_context_destroy(ctx);
	uv_run(&loop, UV_RUN_NOWAIT);
	free(conns);
	free(lat);
	return (nready > 0 ? 0 : 1);
}
