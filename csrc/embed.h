/* embed.h: the Lua sources compiled into the executable (gen_embed.lua). */
#ifndef CERTBOT_EMBED_H
#define CERTBOT_EMBED_H

#include <stddef.h>

struct cb_embedded {
	const char *modname;   /* "certbot.acme" */
	const char *chunkname; /* "@certbot/acme.lua" */
	const char *path;      /* "lua/certbot/acme.lua", relative to the tree */
	const unsigned char *data;
	size_t len;
};

extern const struct cb_embedded cb_embedded[];
extern const size_t cb_embedded_count;

#endif
