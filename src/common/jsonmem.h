/*
 * jsonmem.h - make jansson wipe what it frees.
 *
 * Request bodies and /access responses pass secret values through jansson
 * trees and strings. After jsonmem_init() every block jansson frees is
 * zeroed first, so those values do not linger in freed heap memory.
 */
#ifndef TRESOR_COMMON_JSONMEM_H
#define TRESOR_COMMON_JSONMEM_H

/* Installs the wiping allocator. Call once, before any jansson use. */
void jsonmem_init(void);

#endif
