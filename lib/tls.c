/*
 * tls.c -- see tls.h.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "lib/tls.h"

const char *
tls_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unknown TLS error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* ALPN: we speak HTTP/1.1 only; a client offering only h2 gets no ALPN. */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";

	if (SSL_select_next_proto((unsigned char **)out, outlen, h11,
	    sizeof(h11) - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_OK;
	return SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX *
tls_server_ctx(const char *cert, const char *key, int min_version,
    const char *ciphers, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char e[256];

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "cannot create a TLS context: %s",
		    tls_error(e, sizeof(e)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, min_version == 13 ?
	    TLS1_3_VERSION : TLS1_2_VERSION);
	/*
	 * TLS 1.2 suites: the operator's list, else whatever the system's
	 * OpenSSL policy allows (CipherString in /etc/ssl/openssl.cnf, as
	 * crypto-policies set it), so a site-wide hardening reaches us too.
	 */
	if (ciphers != NULL && SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		snprintf(err, errlen, "ciphers \"%s\": no cipher of it is known to "
		    "OpenSSL (see openssl-ciphers(1))", ciphers);
		ERR_clear_error();
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "certificate %s: %s", cert,
		    tls_error(e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		/* a key that loads but belongs to another certificate */
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH) {
			ERR_clear_error();
			snprintf(err, errlen, "key %s does not match certificate %s",
			    key, cert);
		} else
			snprintf(err, errlen, "key %s: %s", key,
			    tls_error(e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "key %s does not match certificate %s", key,
		    cert);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_client_ctx(int verify, const char *ca, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char e[256];

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "cannot create a TLS context: %s",
		    tls_error(e, sizeof(e)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x08http/1.1", 9);
	if (!verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((ca != NULL ? SSL_CTX_load_verify_locations(ctx, ca, NULL) :
	    SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		snprintf(err, errlen, "CA %s: %s", ca != NULL ? ca : "(system)",
		    tls_error(e, sizeof(e)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

const char *
tls_conn_error(const SSL *ssl, unsigned long e, char *buf, size_t len)
{
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (v != X509_V_OK)
		snprintf(buf, len, "certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
	else
		ERR_error_string_n(e, buf, len);
	return buf;
}

SSL *
tls_client_new(SSL_CTX *ctx, const char *ip_text, const char *host)
{
	SSL *ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	/* the name, when there is one, also goes out as SNI */
	if (host != NULL && host[0] != '\0' &&
	    SSL_set_tlsext_host_name(ssl, host) != 1)
		goto fail;
	if (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

		if (host != NULL && host[0] != '\0') {
			/* a name, not a pattern: no partial wildcards in it */
			X509_VERIFY_PARAM_set_hostflags(vp,
			    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			if (X509_VERIFY_PARAM_set1_host(vp, host, 0) != 1)
				goto fail;
		} else if (X509_VERIFY_PARAM_set1_ip_asc(vp, ip_text) != 1)
			goto fail;
	}
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}
