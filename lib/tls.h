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
 * TLS >= min_version (12 or 13), ALPN "http/1.1". The TLS 1.2 cipher list
 * is ciphers (OpenSSL syntax), or when NULL the system's OpenSSL policy.
 * Returns a new context (caller frees with SSL_CTX_free) or NULL with the
 * reason in err ("key ... does not match certificate ..." for a key of
 * another certificate).
 */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, int min_version,
    const char *ciphers, char *err, size_t errlen);

/*
 * A client context for connections to VMs. verify: check the VM's
 * certificate against ca (a PEM bundle; NULL = the system store) and its
 * IP address; otherwise accept any certificate (self-signed JupyterHubs).
 * Returns a new context or NULL with the reason in err.
 */
SSL_CTX *tls_client_ctx(int verify, const char *ca, char *err, size_t errlen);

/*
 * A new SSL for one connection to the VM at ip_text from ctx. host (may be
 * NULL or "") is the DNS name to ask for (SNI) and, with verification on,
 * the name the VM's certificate must carry; without one the certificate
 * must name the IP address ip_text. Returns NULL on failure.
 */
SSL *tls_client_new(SSL_CTX *ctx, const char *ip_text, const char *host);

/*
 * Why a TLS connection to a VM failed, for log lines and /status: the
 * certificate's verification error when there is one ("certificate verify
 * failed: hostname mismatch"), else OpenSSL's error e as text. ssl may be
 * NULL. Returns buf.
 */
const char *tls_conn_error(const SSL *ssl, unsigned long e, char *buf,
    size_t len);

/* The most recent OpenSSL error as text (for log lines). */
const char *tls_error(char *buf, size_t len);

#endif
