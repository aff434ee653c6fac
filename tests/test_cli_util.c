/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_cli_util - the tool's shared parsing (tools/util.c, compiled into
 * this test): parse_size() and parse_byte() as tools/cli.h documents them
 * (decimal or 0x hex, K/M/G/T suffixes, -EINVAL and -ERANGE), json_str()'s
 * escaping, size_str() and ename().
 */
#include "harness.h"

#include "../tools/util.c"

static uint64_t size_of(const char *s)
{
	uint64_t v = UINT64_C(0xdeadbeef);

	CHECK_EQ(parse_size(s, &v), 0);
	return v;
}

static int size_err(const char *s)
{
	uint64_t v = 42;
	int ret = parse_size(s, &v);

	CHECK_EQ(v, 42); /* untouched on error */
	return ret;
}

TEST(size_decimal_and_hex)
{
	CHECK(size_of("0") == 0);
	CHECK(size_of("4096") == 4096);
	CHECK(size_of("007") == 7);
	CHECK(size_of("0x1000") == 4096);
	CHECK(size_of("0XfF") == 255);
	CHECK(size_of("18446744073709551615") == UINT64_MAX);
	CHECK(size_of("0xffffffffffffffff") == UINT64_MAX);
}

TEST(size_suffixes)
{
	CHECK(size_of("1K") == 1024);
	CHECK(size_of("1k") == 1024);
	CHECK(size_of("64M") == UINT64_C(64) << 20);
	CHECK(size_of("2g") == UINT64_C(2) << 30);
	CHECK(size_of("3T") == UINT64_C(3) << 40);
	CHECK(size_of("0x10K") == 16384);
	CHECK(size_of("0K") == 0);
	CHECK(size_of("16777215T") == UINT64_C(16777215) << 40);
}

TEST(size_invalid)
{
	static const char *bad[] = { "", "K", "x", "0x", "0xg", "-1", "+1", " 1", "1 ", "1KB",
				     "1Q", "12Q", "1.5M", "0x1p", "1e3", "1K2", "--" };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(size_err(bad[i]), -EINVAL);
	CHECK_EQ(size_err(NULL), -EINVAL);
}

TEST(size_range)
{
	CHECK_EQ(size_err("18446744073709551616"), -ERANGE);
	CHECK_EQ(size_err("99999999999999999999999"), -ERANGE);
	CHECK_EQ(size_err("0x10000000000000000"), -ERANGE);
	CHECK_EQ(size_err("16777216T"), -ERANGE);
	CHECK_EQ(size_err("17179869184G"), -ERANGE);
	CHECK_EQ(size_err("18014398509481984K"), -ERANGE);
}

TEST(byte)
{
	int b = -7;

	CHECK_EQ(parse_byte("0", &b), 0);
	CHECK_EQ(b, 0);
	CHECK_EQ(parse_byte("255", &b), 0);
	CHECK_EQ(b, 255);
	CHECK_EQ(parse_byte("0xcd", &b), 0);
	CHECK_EQ(b, 0xcd);
	CHECK_EQ(parse_byte("0XA5", &b), 0);
	CHECK_EQ(b, 0xa5);
	b = -7;
	CHECK_EQ(parse_byte("256", &b), -ERANGE);
	CHECK_EQ(parse_byte("0x100", &b), -ERANGE);
	CHECK_EQ(parse_byte("99999999999999999999", &b), -ERANGE);
	CHECK_EQ(parse_byte("", &b), -EINVAL);
	CHECK_EQ(parse_byte("1K", &b), -EINVAL); /* no suffixes for a byte */
	CHECK_EQ(parse_byte("-1", &b), -EINVAL);
	CHECK_EQ(parse_byte("0x", &b), -EINVAL);
	CHECK_EQ(parse_byte("cd", &b), -EINVAL);
	CHECK_EQ(parse_byte(NULL, &b), -EINVAL);
	CHECK_EQ(b, -7);
}

TEST(json_string)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	CHECK(f);
	json_str(f, "a\"b\\c\nd\te\x01 /é");
	CHECK_EQ(fclose(f), 0);
	CHECK(!strcmp(buf, "\"a\\\"b\\\\c\\nd\\te\\u0001 /é\""));
	free(buf);
}

TEST(sizes_and_names)
{
	char b[32];

	CHECK(!strcmp(size_str(64u << 20, b, sizeof(b)), "64 MiB"));
	CHECK(!strcmp(size_str(4096, b, sizeof(b)), "4 KiB"));
	CHECK(!strcmp(size_str(4097, b, sizeof(b)), "4097 bytes"));
	CHECK(!strcmp(ename(-EBUSY), "-EBUSY"));
	CHECK(!strcmp(ename(0), "0"));
}

T_MAIN(NULL, NULL)
