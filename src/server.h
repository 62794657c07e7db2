/*
 * The HTTP and WebSocket server: libwebsockets on kefu's libuv loop.  It
 * serves /healthz, /metrics and web/ itself; channels add WebSocket
 * protocols and HTTP routes before it starts.
 */
#ifndef KEFU_SERVER_H
#define KEFU_SERVER_H

struct lws_protocols;

/* Add a protocol (a WebSocket channel); call before server_start. */
void	 server_add_protocol(const struct lws_protocols *);
/* Create the context and the vhost; -1 with *cause if the port is busy. */
int	 server_start(char **);
/* Destroy the context the way lws 4.1 with a foreign loop requires. */
void	 server_stop(void);
/* Once the loop has drained after server_stop, finish it. */
void	 server_finish(void);

#endif
