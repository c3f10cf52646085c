/*
 * names.h - the naming rules of SPEC §1-§3, in one place.
 * Each function takes a NUL-terminated string and answers yes or no.
 */
#ifndef TRESOR_DOMAIN_NAMES_H
#define TRESOR_DOMAIN_NAMES_H

#include <stdbool.h>

/* Secret names: ^[A-Za-z0-9_.-]{1,255}$ (NeMo). */
bool name_secret_valid(const char *s);
/* A portable DNS-1123 name (Kubernetes, AMD): 2-253 chars of lowercase
 * alphanumerics and '-', starting with a letter, ending alphanumeric.
 * A valid secret name that fails this earns a warning, not an error. */
bool name_dns_portable(const char *s);
/* Workspace, project and cluster names: ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ */
bool name_label_valid(const char *s);
/* Data key names: ^[A-Za-z0-9_.-]{1,253}$ */
bool name_key_valid(const char *s);
/* Principal names: like labels, plus '_' and '.', 1-63 chars. */
bool name_principal_valid(const char *s);
/* Tags: ^[A-Za-z0-9_.:-]{1,63}$ */
bool name_tag_valid(const char *s);

#endif
