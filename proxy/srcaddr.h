/*
 * srcaddr.h -- connecting to a VM from the client's address
 * (services[].source = "client"): IP_TRANSPARENT sockets.
 *
 * The VM then sees the real client in sshd's log, `last`, fail2ban and
 * JupyterHub's log, as behind a cloud load balancer. Two things must hold
 * on the poolgate node, and poolgate checks the first:
 *
 *   - the capability: IP_TRANSPARENT needs CAP_NET_ADMIN (poolgate keeps it
 *     across its switch to `user` when a service asks for it);
 *   - the return path: the VM's answers to the client's address must come
 *     back through the poolgate node (the VMs' route, an Azure route
 *     table), and the node must deliver them to the transparent socket
 *     rather than forward them (policy routing of packets that belong to a
 *     local socket; docs/poolgate.conf.5, SOURCE ADDRESS).
 */
#ifndef POOLGATE_SRCADDR_H
#define POOLGATE_SRCADDR_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Whether this process may make transparent sockets of `family` (AF_INET
 * or AF_INET6). Returns 0, or -1 with what is missing in err.
 */
int  sa_transparent_check(int family, char *err, size_t errlen);

/*
 * Make fd, an unconnected TCP socket, connect from `client` (its address;
 * the port is left to the kernel at connect). Returns 0, or -1 with errno
 * set and the step that failed in err (the caller then connects from its
 * own address or gives up, as it decides).
 */
int  sa_bind_client(int fd, const struct sockaddr_storage *client,
    char *err, size_t errlen);

#endif
