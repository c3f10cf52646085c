/*
 * limits.h - every user-controlled size in one place (SPEC §2, §5).
 * Each limit is enforced where input enters and answered with a status:
 * body and data sizes with 413, the rest with 422.
 */
#ifndef TRESOR_COMMON_LIMITS_H
#define TRESOR_COMMON_LIMITS_H

#define TR_MAX_BODY (1024 * 1024)      /* request body bytes (413) */
#define TR_MAX_DATA (64 * 1024)        /* sum of key and value bytes per secret (413) */
#define TR_MAX_KEYS 64                 /* data keys per secret (422) */
#define TR_SECRET_NAME_MAX 255         /* ^[A-Za-z0-9_.-]{1,255}$ */
#define TR_KEY_NAME_MAX 253            /* data key names */
#define TR_WORKSPACE_NAME_MAX 63       /* DNS label */
#define TR_SCOPE_NAME_MAX 63           /* project and cluster names, DNS label */
#define TR_PRINCIPAL_NAME_MAX 63
#define TR_TYPE_NAME_MAX 31
#define TR_DESCRIPTION_MAX 1024        /* bytes */
#define TR_TAGS_MAX 16
#define TR_TAG_MAX 63
#define TR_PAGE_SIZE_MAX 1000
#define TR_PAGE_SIZE_DEFAULT 100
#define TR_VISIBILITY_MAX 7            /* "private" / "public" */
#define TR_PROVIDER_ID_MAX 63

#endif
