/*
 * kms-plugin.c - tresor-kms-plugin, the reference external KMS plugin for
 * tresor's "exec" key provider (protocol: docs/kms-plugin.md).
 *
 * It plays the part of an HSM or a cloud KMS: it holds a 32-byte
 * key-encryption key that tresor never sees, read from a file named on the
 * command line (the file, not the key, is on the command line), and wraps
 * and unwraps data keys for tresor over stdin/stdout, one line each way:
 *
 *   hello 1 <provider-id>   -> ok 1
 *   wrap <base64 key>       -> ok <base64 blob>
 *   unwrap <base64 blob>    -> ok <base64 key>   (or "error ...")
 *
 * A blob is 1 byte format (1) || 24-byte nonce || XChaCha20-Poly1305 of the
 * data key, with "tresor-kms-plugin-v1" and the provider id as AAD. On end
 * of input it exits 0.
 *
 * For tests it can misbehave on purpose: --crash, --hang or --garbage OP
 * (OP: hello, wrap or unwrap) after --after N good answers, and --delay-us
 * (microseconds) before every answer.
 *
 * usage: tresor-kms-plugin --key-file FILE [--crash OP | --hang OP | --garbage OP]
 *                          [--after N] [--delay-us N]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define LINE_MAX_BYTES 8192
#define KEY_BYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define DK_BYTES 32
#define BLOB_BYTES (1 + NONCE_BYTES + DK_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define AAD_LABEL "tresor-kms-plugin-v1"
#define ID_MAX 63
#define STDIO_BUF_BYTES 16384

enum misbehaviour { BEHAVE, CRASH, HANG, GARBAGE };

struct plugin {
	unsigned char *key; /* guarded */
	char id[ID_MAX + 1];
	int greeted;
	enum misbehaviour mode;
	char mode_op[16]; /* the request it misbehaves on */
	long after;       /* good answers before misbehaving */
	long answered;
	long delay_us;
};

static void die(const char *msg)
{
	fprintf(stderr, "tresor-kms-plugin: %s\n", msg);
	exit(2);
}

/* ---- the key ---- */

/* Reads FILE (base64 of 32 bytes, mode 0600 or stricter) into guarded memory. */
static unsigned char *load_key(const char *path)
{
	char *text = sodium_malloc(256);
	unsigned char *key = sodium_malloc(KEY_BYTES);
	size_t len = 0, n = 0;
	struct stat st;
	FILE *f;

	if (!text || !key)
		die("out of memory");
	if (!(f = fopen(path, "r")))
		die("cannot open the key file");
	if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077))
		die("the key file must not be accessible by group or others (chmod 600)");
	n = fread(text, 1, 255, f);
	fclose(f);
	text[n] = '\0';
	if (sodium_base642bin(key, KEY_BYTES, text, n, " \r\n", &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != KEY_BYTES)
		die("the key file must hold base64 of 32 bytes");
	sodium_free(text);
	sodium_mprotect_readonly(key);
	return key;
}

/* ---- answers ---- */

static void answer(const char *line)
{
	fputs(line, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

/* "ok <base64 of data>", built in guarded memory (it may be a data key). */
static void answer_ok(const unsigned char *data, size_t len)
{
	size_t size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL) + 4;
	char *line = sodium_malloc(size);

	if (!line)
		die("out of memory");
	memcpy(line, "ok ", 3);
	sodium_bin2base64(line + 3, size - 3, data, len, sodium_base64_VARIANT_ORIGINAL);
	answer(line);
	sodium_free(line);
}

static size_t build_aad(const struct plugin *p, unsigned char *aad)
{
	size_t label = sizeof(AAD_LABEL) - 1, id = strlen(p->id);

	memcpy(aad, AAD_LABEL, label);
	memcpy(aad + label, p->id, id);
	return label + id;
}

/* Decodes the base64 argument of a request into out; -1 unless exactly want bytes. */
static int decode_arg(const char *arg, unsigned char *out, size_t want)
{
	size_t len = 0;
	const char *end = NULL;

	if (sodium_base642bin(out, want, arg, strlen(arg), NULL, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0)
		return -1;
	return len == want && end && *end == '\0' ? 0 : -1;
}

static void do_wrap(const struct plugin *p, const char *arg)
{
	unsigned char aad[sizeof(AAD_LABEL) + ID_MAX], blob[BLOB_BYTES];
	unsigned char *dk = sodium_malloc(DK_BYTES);

	if (!dk)
		die("out of memory");
	if (decode_arg(arg, dk, DK_BYTES) != 0) {
		answer("error wrap needs base64 of a 32-byte data key");
	} else {
		blob[0] = 1;
		randombytes_buf(blob + 1, NONCE_BYTES);
		crypto_aead_xchacha20poly1305_ietf_encrypt(blob + 1 + NONCE_BYTES, NULL, dk, DK_BYTES, aad,
		                                           build_aad(p, aad), NULL, blob + 1, p->key);
		answer_ok(blob, sizeof(blob));
	}
	sodium_free(dk);
}

static void do_unwrap(const struct plugin *p, const char *arg)
{
	unsigned char aad[sizeof(AAD_LABEL) + ID_MAX], blob[BLOB_BYTES];
	unsigned char *dk = sodium_malloc(DK_BYTES);

	if (!dk)
		die("out of memory");
	if (decode_arg(arg, blob, BLOB_BYTES) != 0 || blob[0] != 1)
		answer("error not a key wrapped by this plugin");
	else if (crypto_aead_xchacha20poly1305_ietf_decrypt(dk, NULL, NULL, blob + 1 + NONCE_BYTES,
	                                                    BLOB_BYTES - 1 - NONCE_BYTES, aad, build_aad(p, aad),
	                                                    blob + 1, p->key) != 0)
		answer("error unwrap failed: wrong key or altered blob");
	else
		answer_ok(dk, DK_BYTES);
	sodium_free(dk);
}

static void do_hello(struct plugin *p, const char *arg)
{
	const char *space = strchr(arg, ' ');

	if (strncmp(arg, "1 ", 2) != 0 || !space || strlen(space + 1) == 0 || strlen(space + 1) > ID_MAX) {
		answer("error this plugin speaks protocol 1: hello 1 <provider-id>");
		return;
	}
	snprintf(p->id, sizeof(p->id), "%s", space + 1);
	p->greeted = 1;
	answer("ok 1");
}

/* ---- misbehaving on purpose ---- */

static void misbehave(const struct plugin *p, const char *op)
{
	struct rlimit none = {0, 0};

	if (p->mode == BEHAVE || strcmp(op, p->mode_op) != 0 || p->answered < p->after)
		return;
	switch (p->mode) {
	case CRASH:
		setrlimit(RLIMIT_CORE, &none);
		signal(SIGABRT, SIG_DFL);
		abort();
	case HANG:
		for (;;)
			pause();
	case GARBAGE:
		answer("%%% this is not the protocol %%%");
		exit(0);
	default:
		break;
	}
}

static void delay(const struct plugin *p)
{
	struct timespec ts = {p->delay_us / 1000000, (p->delay_us % 1000000) * 1000L};

	if (p->delay_us > 0)
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
}

/* One request line (newline stripped). */
static void handle(struct plugin *p, char *line)
{
	char *space = strchr(line, ' ');
	const char *op = line, *arg = "";

	if (space) {
		*space = '\0';
		arg = space + 1;
	}
	misbehave(p, op);
	delay(p);
	if (strcmp(op, "hello") == 0)
		do_hello(p, arg);
	else if (!p->greeted)
		answer("error say hello first");
	else if (strcmp(op, "wrap") == 0)
		do_wrap(p, arg);
	else if (strcmp(op, "unwrap") == 0)
		do_unwrap(p, arg);
	else
		answer("error unknown request");
	p->answered++;
}

/* ---- main ---- */

static void set_mode(struct plugin *p, enum misbehaviour mode, const char *op)
{
	if (strcmp(op, "hello") != 0 && strcmp(op, "wrap") != 0 && strcmp(op, "unwrap") != 0)
		die("OP must be hello, wrap or unwrap");
	p->mode = mode;
	snprintf(p->mode_op, sizeof(p->mode_op), "%s", op);
}

static void parse_args(int argc, char **argv, struct plugin *p, const char **key_file)
{
	static const struct option opts[] = {
		{"key-file", required_argument, NULL, 'k'}, {"crash", required_argument, NULL, 'c'},
		{"hang", required_argument, NULL, 'h'},     {"garbage", required_argument, NULL, 'g'},
		{"after", required_argument, NULL, 'a'},    {"delay-us", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': *key_file = optarg; break;
		case 'c': set_mode(p, CRASH, optarg); break;
		case 'h': set_mode(p, HANG, optarg); break;
		case 'g': set_mode(p, GARBAGE, optarg); break;
		case 'a': p->after = atol(optarg); break;
		case 'd': p->delay_us = atol(optarg); break;
		default: die("usage: tresor-kms-plugin --key-file FILE [--crash|--hang|--garbage OP] [--after N] "
		             "[--delay-us N]");
		}
	}
	if (!*key_file)
		die("--key-file is required");
}

int main(int argc, char **argv)
{
	struct plugin p = {0};
	const char *key_file = NULL;
	char *line, *in_buf, *out_buf;

	/* It holds a key-encryption key: no core dumps, no ptrace by others. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (sodium_init() < 0)
		die("cannot initialise libsodium");
	parse_args(argc, argv, &p, &key_file);
	p.key = load_key(key_file);
	/* stdio's buffers see data keys too: give it guarded ones. */
	in_buf = sodium_malloc(STDIO_BUF_BYTES);
	out_buf = sodium_malloc(STDIO_BUF_BYTES);
	if (!(line = sodium_malloc(LINE_MAX_BYTES + 1)) || !in_buf || !out_buf)
		die("out of memory");
	setvbuf(stdin, in_buf, _IOFBF, STDIO_BUF_BYTES);
	setvbuf(stdout, out_buf, _IOFBF, STDIO_BUF_BYTES);
	while (fgets(line, LINE_MAX_BYTES + 1, stdin)) {
		size_t len = strlen(line);

		if (len == 0 || line[len - 1] != '\n') {
			answer("error request line too long");
			break;
		}
		line[len - 1] = '\0';
		handle(&p, line);
		sodium_memzero(line, LINE_MAX_BYTES + 1);
	}
	sodium_free(line);
	sodium_free(p.key);
	return 0;
}
