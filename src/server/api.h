/*
 * api.h - the route handlers, one group per resource (api-<resource>.c).
 * Only routes.c refers to them.
 */
#ifndef TRESOR_SERVER_API_H
#define TRESOR_SERVER_API_H

#include "server/http.h"

void api_health(struct api_request *r);

void api_workspaces_create(struct api_request *r);
void api_workspaces_list(struct api_request *r);
void api_workspaces_get(struct api_request *r);
void api_workspaces_delete(struct api_request *r);

void api_secrets_create(struct api_request *r);
void api_secrets_create_prepare(struct api_request *r);
void api_secrets_list(struct api_request *r);
void api_secrets_get(struct api_request *r);
void api_secrets_patch(struct api_request *r);
void api_secrets_put(struct api_request *r);
void api_secrets_delete(struct api_request *r);
void api_secrets_access(struct api_request *r);
void api_secrets_versions(struct api_request *r);
void api_secrets_batch(struct api_request *r);

void api_resolve(struct api_request *r);

void api_principals_create(struct api_request *r);
void api_principals_list(struct api_request *r);
void api_principals_delete(struct api_request *r);

void api_members_put(struct api_request *r);
void api_members_list(struct api_request *r);
void api_members_delete(struct api_request *r);

void api_audit_list(struct api_request *r);
void api_audit_verify(struct api_request *r);

void api_keys_rotate(struct api_request *r);
void api_keys_status(struct api_request *r);

void api_tokens_create(struct api_request *r);
void api_tokens_list(struct api_request *r);
void api_tokens_delete(struct api_request *r);

#endif
