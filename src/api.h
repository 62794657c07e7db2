/*
 * The JSON API under /api/ (docs/api.md) and the inbox's live feed.
 */
#ifndef KEFU_API_H
#define KEFU_API_H

/* Add the /api routes and the live WebSocket; call before server_start. */
void	 api_init(void);

#endif
