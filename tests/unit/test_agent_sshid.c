/*
 * test_agent_sshid.c -- the SSH host identity (agent/sshid.c): fingerprints
 * as ssh-keygen -l prints them, ssh-keygen -L listings, and the verdicts on
 * real host certificates made by ssh-keygen in a temporary directory (the
 * pool's CA, another CA, principals, an expired certificate). The parts that
 * need ssh-keygen are skipped where it is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/sshid.h"
#include "agent/util.h"

static char dir[64];
static bool have_keygen;

/* Run a shell command; $D is the temporary directory. */
static int
sh(const char *cmd)
{
	setenv("D", dir, 1);
	return system(cmd);
}

static int
setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/agent-sshid.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	have_keygen = system("command -v ssh-keygen >/dev/null 2>&1") == 0;
	if (!have_keygen)
		return 0;
	/*
	 * ed25519: signed by the pool's CA for pool1; ecdsa: by another CA;
	 * rsa: by the pool's CA but expired and without pool1.
	 */
	return sh("cd \"$D\" && ssh-keygen -q -t ed25519 -N '' -C ca -f ca && "
	    "ssh-keygen -q -t ed25519 -N '' -C other -f other && "
	    "ssh-keygen -q -t ed25519 -N '' -f ssh_host_ed25519_key && "
	    "ssh-keygen -q -t ecdsa -N '' -f ssh_host_ecdsa_key && "
	    "ssh-keygen -q -t rsa -b 2048 -N '' -f ssh_host_rsa_key && "
	    "ssh-keygen -q -s ca -I vm1 -h -n pool1,vm1.example -V 20200101:20991231 "
	    "ssh_host_ed25519_key.pub && "
	    "ssh-keygen -q -s other -I vm1 -h -n pool1 ssh_host_ecdsa_key.pub && "
	    "ssh-keygen -q -s ca -I vm1 -h -n vm1.example -V 20200101:20200102 "
	    "ssh_host_rsa_key.pub && echo junk > ssh_host_junk_key.pub") == 0 ?
	    0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return sh("rm -rf \"$D\"") == 0 ? 0 : -1;
}

/* What ssh-keygen -l says of file: "SHA256:..." into fp. */
static void
keygen_l(const char *file, char *fp, size_t size)
{
	char cmd[512], line[512];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ssh-keygen -l -f %s", file);
	p = popen(cmd, "r");
	assert_non_null(fgets(line, sizeof(line), p));
	pclose(p);
	assert_int_equal(sscanf(line, "%*d %63s", fp), 1);
	(void)size;
}

static void
test_fingerprint(void **state)
{
	char type[SID_TYPE_MAX], fp[SID_FP_MAX], want[64], path[256], *text;
	const char *names[] = { "ssh_host_ed25519_key.pub", "ssh_host_ecdsa_key.pub",
	    "ssh_host_rsa_key.pub", "ca.pub" };
	size_t i, len;

	(void)state;
	if (!have_keygen)
		fail_msg("ssh-keygen not found: openssh-client is required "
		    "(deploy/install-deps)");
	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		text = ag_read_text(path, 16384, &len);
		assert_non_null(text);
		assert_int_equal(sid_fingerprint(text, len, type, sizeof(type), fp,
		    sizeof(fp)), 0);
		keygen_l(path, want, sizeof(want));
		assert_string_equal(fp, want);
		free(text);
	}
	assert_string_equal(type, "ssh-ed25519");
}

static void
test_fingerprint_text(void **state)
{
	/* ssh-keygen -l of this line: SHA256:Zi7Jam6KzZ2xZzHDJSKC24s5qL0c5hcXxFZYPcoJC5Q */
	const char *ca = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBCMcB6rK6Yq"
	    "Eqw6D2kdQqeXqj0uJd1cbH3DGWm9BHj6 ca\n";
	char type[SID_TYPE_MAX], fp[SID_FP_MAX], fp2[SID_FP_MAX], line[512];

	(void)state;
	assert_int_equal(sid_fingerprint(ca, strlen(ca), type, sizeof(type), fp,
	    sizeof(fp)), 0);
	assert_string_equal(fp, "SHA256:Zi7Jam6KzZ2xZzHDJSKC24s5qL0c5hcXxFZYPcoJC5Q");
	/* a known_hosts CA line gives the same */
	snprintf(line, sizeof(line), "# comment\n@cert-authority *.pool %s", ca);
	assert_int_equal(sid_fingerprint(line, strlen(line), type, sizeof(type),
	    fp2, sizeof(fp2)), 0);
	assert_string_equal(fp, fp2);
	/* the blob must name the type */
	assert_int_equal(sid_fingerprint("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIBCM", 35,
	    type, sizeof(type), fp, sizeof(fp)), -1);
	assert_int_equal(sid_fingerprint("ssh-ed25519 !!!!", 16, type, sizeof(type),
	    fp, sizeof(fp)), -1);
	assert_int_equal(sid_fingerprint("", 0, type, sizeof(type), fp, sizeof(fp)), -1);
}

static const char listing[] =
    "/etc/ssh/ssh_host_ed25519_key-cert.pub:\n"
    "        Type: ssh-ed25519-cert-v01@openssh.com host certificate\n"
    "        Public key: ED25519-CERT SHA256:HaV+Y/+Voln4mRZArWF6eRWLn0xDbOgCeRU0KvbVVzo\n"
    "        Signing CA: ED25519 SHA256:dQx5zySh9cZo8q+zXaZ+/90nt7DF/UoiFCjKuZLMfHY (using ssh-ed25519)\n"
    "        Key ID: \"vm1\"\n"
    "        Serial: 0\n"
    "        Valid: from 2024-01-01T00:00:00 to 2030-01-01T00:00:00\n"
    "        Principals: \n"
    "                pool1\n"
    "                vm1.example\n"
    "        Critical Options: (none)\n"
    "        Extensions: (none)\n";

static void
test_listing(void **state)
{
	struct sid_cert c;
	char err[128], text[2048];

	(void)state;
	assert_int_equal(sid_parse_listing(listing, strlen(listing), &c, err,
	    sizeof(err)), 0);
	assert_string_equal(c.type, "ssh-ed25519-cert-v01@openssh.com");
	assert_true(c.host);
	assert_string_equal(c.key_fp, "SHA256:HaV+Y/+Voln4mRZArWF6eRWLn0xDbOgCeRU0KvbVVzo");
	assert_string_equal(c.ca_fp, "SHA256:dQx5zySh9cZo8q+zXaZ+/90nt7DF/UoiFCjKuZLMfHY");
	assert_string_equal(c.key_id, "vm1");
	assert_int_equal(c.valid_from_ms, 1704067200000ULL);
	assert_int_equal(c.valid_to_ms, 1893456000000ULL);
	assert_int_equal(c.nprincipals, 2);
	assert_string_equal(c.principals[0], "pool1");
	assert_string_equal(c.principals[1], "vm1.example");

	/* forever, no principals, a user certificate */
	snprintf(text, sizeof(text), "x:\n  Type: ssh-ed25519-cert-v01@openssh.com user "
	    "certificate\n  Signing CA: ED25519 SHA256:abc (using ssh-ed25519)\n"
	    "  Valid: forever\n  Principals: (none)\n  Critical Options: (none)\n");
	assert_int_equal(sid_parse_listing(text, strlen(text), &c, err, sizeof(err)), 0);
	assert_false(c.host);
	assert_int_equal(c.valid_from_ms, 0);
	assert_int_equal(c.valid_to_ms, UINT64_MAX);
	assert_int_equal(c.nprincipals, 0);
	snprintf(text, sizeof(text), "  Type: t host certificate\n  Signing CA: E SHA256:a\n"
	    "  Valid: after 2024-01-01T00:00:00\n");
	assert_int_equal(sid_parse_listing(text, strlen(text), &c, err, sizeof(err)), 0);
	assert_int_equal(c.valid_from_ms, 1704067200000ULL);
	assert_int_equal(c.valid_to_ms, UINT64_MAX);
	snprintf(text, sizeof(text), "  Type: t host certificate\n  Signing CA: E SHA256:a\n"
	    "  Valid: before 2024-01-01T00:00:00\n");
	assert_int_equal(sid_parse_listing(text, strlen(text), &c, err, sizeof(err)), 0);
	assert_int_equal(c.valid_from_ms, 0);
	assert_int_equal(c.valid_to_ms, 1704067200000ULL);

	/* a NUL byte: not ssh-keygen's output (found by the fuzzer) */
	memcpy(text, listing, sizeof(listing));
	text[60] = '\0';
	assert_int_equal(sid_parse_listing(text, sizeof(listing) - 1, &c, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "ssh-keygen -L output with a NUL byte");

	/* what is missing is named */
	assert_int_equal(sid_parse_listing("", 0, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Type"));
	snprintf(text, sizeof(text), "  Type: t host certificate\n  Valid: forever\n");
	assert_int_equal(sid_parse_listing(text, strlen(text), &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Signing CA"));
	snprintf(text, sizeof(text), "  Type: t host certificate\n  Signing CA: E SHA256:a\n"
	    "  Valid: sometimes\n");
	assert_int_equal(sid_parse_listing(text, strlen(text), &c, err, sizeof(err)), -1);
}

static void
test_judge(void **state)
{
	struct sid_key k;
	char err[128];

	(void)state;
	memset(&k, 0, sizeof(k));
	strcpy(k.fp, "SHA256:HaV+Y/+Voln4mRZArWF6eRWLn0xDbOgCeRU0KvbVVzo");
	sid_judge(&k, "SHA256:x", "pool1", 0);
	assert_int_equal(k.signed_by_pool_ca, SID_UNKNOWN);    /* no certificate */
	k.has_cert = k.cert_read = true;
	assert_int_equal(sid_parse_listing(listing, strlen(listing), &k.cert, err,
	    sizeof(err)), 0);
	sid_judge(&k, "SHA256:dQx5zySh9cZo8q+zXaZ+/90nt7DF/UoiFCjKuZLMfHY", "pool1",
	    1800000000000ULL);
	assert_int_equal(k.signed_by_pool_ca, SID_YES);
	assert_int_equal(k.pool_principal, SID_YES);
	assert_int_equal(k.valid_now, SID_YES);
	assert_int_equal(k.matches_key, SID_YES);
	sid_judge(&k, "SHA256:other", "pool2", 1900000000000ULL);
	assert_int_equal(k.signed_by_pool_ca, SID_NO);
	assert_int_equal(k.pool_principal, SID_NO);
	assert_int_equal(k.valid_now, SID_NO);
	sid_judge(&k, "", NULL, 1700000000000ULL);
	assert_int_equal(k.signed_by_pool_ca, SID_UNKNOWN);
	assert_int_equal(k.pool_principal, SID_UNKNOWN);
	assert_int_equal(k.valid_now, SID_NO);       /* not yet */
	/* a host certificate without principals is valid for any name */
	k.cert.nprincipals = 0;
	sid_judge(&k, "", "pool1", 1800000000000ULL);
	assert_int_equal(k.pool_principal, SID_YES);
	strcpy(k.fp, "SHA256:another");
	sid_judge(&k, "", NULL, 1800000000000ULL);
	assert_int_equal(k.matches_key, SID_NO);
}

static void
test_collect(void **state)
{
	struct sid_key k[SID_KEYS_MAX];
	char ca[SID_FP_MAX], path[256], err[256];
	size_t n, i;

	(void)state;
	if (!have_keygen)
		fail_msg("ssh-keygen not found: openssh-client is required "
		    "(deploy/install-deps)");
	snprintf(path, sizeof(path), "%s/ca.pub", dir);
	assert_int_equal(sid_ca_fingerprint(path, ca, sizeof(ca), err, sizeof(err)), 0);
	assert_int_equal(sid_ca_fingerprint("SHA256:abc", ca + 0, sizeof(ca), err,
	    sizeof(err)), 0);
	assert_string_equal(ca, "SHA256:abc");
	assert_int_equal(sid_ca_fingerprint(path, ca, sizeof(ca), err, sizeof(err)), 0);
	assert_int_equal(sid_ca_fingerprint("/nonexistent/ca.pub", path, sizeof(path),
	    err, sizeof(err)), -1);

	assert_int_equal(sid_collect(dir, "ssh-keygen", 5000, ca, "pool1",
	    ag_wall_ms(), k, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);     /* junk is not a key */
	for (i = 0; i < n; i++) {
		assert_true(k[i].has_cert);
		assert_true(k[i].cert_read);
		assert_int_equal(k[i].matches_key, SID_YES);
	}
	/* in name order: ecdsa, ed25519, rsa */
	assert_string_equal(k[0].type, "ecdsa-sha2-nistp256");
	assert_int_equal(k[0].signed_by_pool_ca, SID_NO);     /* another CA */
	assert_int_equal(k[0].pool_principal, SID_YES);
	assert_int_equal(k[0].valid_now, SID_YES);
	assert_string_equal(k[1].type, "ssh-ed25519");
	assert_int_equal(k[1].signed_by_pool_ca, SID_YES);
	assert_int_equal(k[1].pool_principal, SID_YES);
	assert_int_equal(k[1].valid_now, SID_YES);
	assert_string_equal(k[2].type, "ssh-rsa");
	assert_int_equal(k[2].signed_by_pool_ca, SID_YES);
	assert_int_equal(k[2].pool_principal, SID_NO);
	assert_int_equal(k[2].valid_now, SID_NO);             /* expired */

	/* ssh-keygen missing: the certificate is there but unread, with why */
	assert_int_equal(sid_collect(dir, "no-such-ssh-keygen", 5000, ca, "pool1",
	    ag_wall_ms(), k, &n, err, sizeof(err)), 0);
	assert_true(k[0].has_cert);
	assert_false(k[0].cert_read);
	assert_non_null(strstr(k[0].cert_error, "no-such-ssh-keygen"));
	assert_int_equal(k[0].signed_by_pool_ca, SID_UNKNOWN);

	assert_int_equal(sid_collect("/nonexistent/ssh", "ssh-keygen", 5000, ca,
	    "pool1", 0, k, &n, err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_fingerprint_text),
		cmocka_unit_test(test_listing),
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_collect),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
