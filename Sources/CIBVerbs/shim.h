// Shim for libibverbs (rdma-core, libibverbs-dev).
// Why: ibv_query_port is a function-like macro over a static inline helper in
// verbs.h, which Swift cannot call; this wraps it in a plain function.
#ifndef HPCCLOUD_CIBVERBS_SHIM_H
#define HPCCLOUD_CIBVERBS_SHIM_H

#include <infiniband/verbs.h>

static inline int hpccloud_ibv_query_port(struct ibv_context *context, uint8_t port_num,
                                          struct ibv_port_attr *port_attr) {
    return ibv_query_port(context, port_num, port_attr);
}

#endif
