/* api.h - the calls of service sbx.v1.Sandbox: who may make them, and what
 * they do.
 *
 * Each call authenticates its bearer token (auth.c), checks the caller's
 * role against the call's policy (the table in api.c; a vendor is further
 * scoped to its own vendor id), then acts on the registry, the store and the
 * scheduler. Answers never carry endpoint secrets, private datasets, or
 * another vendor's unpublished runs and results.
 *
 * WatchRun streams live here too: the scheduler's events fan out to the
 * streams watching that run.
 */
#ifndef SBX_API_H
#define SBX_API_H

#include "connect.h"
#include "sbx/v1/run.pb-c.h"

struct sbx_daemon;

/* Fills svc with the service's methods, bound to d. */
void sbx_api_service(struct sbx_daemon *d, struct sbx_connect_service *svc);

/* Hands a scheduler event to the streams watching its run; a result event
 * ends them. */
void sbx_api_on_event(struct sbx_daemon *d, const Sbx__V1__RunEvent *ev);

/* Sends every stream its run's current state (a heartbeat: a suspended
 * connection learns that its client left only when a write fails). */
void sbx_api_heartbeat(struct sbx_daemon *d);

/* Ends every stream (shutdown). */
void sbx_api_end_watchers(struct sbx_daemon *d);

/* Frees the API's caches (after the server has stopped). */
void sbx_api_free(struct sbx_daemon *d);

#endif
