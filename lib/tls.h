/*
 * tls.h -- OpenSSL contexts for TLS termination and TLS to the VMs.
 *
 * Contexts are built when a configuration is applied (start and reload), so
 * a certificate that cannot be loaded makes the reload fail and the running
 * contexts stay. OpenSSL reference-counts a context: connections made from an
 * old one keep it alive after a reload frees the service's reference.
 */
#ifndef POOLGATE_TLS_H
#define POOLGATE_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/*
 * A server context with the certificate chain and key of the files given,
 * TLS >= min_version (12 or 13), modern ciphers only, ALPN "http/1.1".
 * Returns a new context (caller frees with SSL_CTX_free) or NULL with the
 * reason in err.
 */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, int min_version,
    char *err, size_t errlen);

/*
 * A client context for connections to VMs. verify: check the VM's
 * certificate against ca (a PEM bundle; NULL = the system store) and its
 * IP address; otherwise accept any certificate (self-signed JupyterHubs).
 * Returns a new context or NULL with the reason in err.
 */
SSL_CTX *tls_client_ctx(int verify, const char *ca, char *err, size_t errlen);

/*
 * A new SSL for one connection to the VM at ip_text from ctx; with
 * verification on, the VM's certificate must name that IP address.
 * Returns NULL on failure.
 */
SSL *tls_client_new(SSL_CTX *ctx, const char *ip_text);

/* The most recent OpenSSL error as text (for log lines). */
const char *tls_error(char *buf, size_t len);

#endif
