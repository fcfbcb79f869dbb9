// SPDX-License-Identifier: GPL-2.0
/*
 * Migration smoke test: fill memory with a known pattern, have the host
 * live-migrate the VM (possibly several times in a row) and verify the
 * pattern after each migration.
 *
 * Usage: migrate_test [-n rounds] [-m MiB] [-e expected status]
 *                     [host migrate options, e.g. max-bandwidth=N ...]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kselftest.h"
#include "balloon_test.h"

#define DEFAULT_MIB		64
#define MIB			(1024 * 1024)
/* Checks per round: reply received, expected status, pattern intact. */
#define CHECKS_PER_ROUND	3
/* Multiplier spreading the word index over all 64 bits (golden ratio). */
#define PATTERN_MULT		0x9e3779b97f4a7c15ULL
#define STATUS_MAX		64

static uint64_t pattern_word(size_t i, uint64_t seed)
{
	return (i * PATTERN_MULT) ^ seed;
}

static void fill(uint64_t *mem, size_t words, uint64_t seed)
{
	size_t i;

	for (i = 0; i < words; i++)
		mem[i] = pattern_word(i, seed);
}

/**
 * verify() - Check the pattern written by fill().
 * @mem: memory area.
 * @words: number of 64-bit words.
 * @seed: seed given to fill().
 *
 * Return: number of words that differ; the first one is reported.
 */
static size_t verify(const uint64_t *mem, size_t words, uint64_t seed)
{
	size_t i, bad = 0;

	for (i = 0; i < words; i++) {
		if (mem[i] == pattern_word(i, seed))
			continue;
		if (!bad++)
			ksft_print_msg("word %zu: %#llx != %#llx\n", i,
				       (unsigned long long)mem[i],
				       (unsigned long long)pattern_word(i, seed));
	}
	return bad;
}

int main(int argc, char **argv)
{
	const char *expect = "completed";
	char opts[BT_LINE_MAX] = "", reply[BT_LINE_MAX], status[STATUS_MAX];
	unsigned int rounds = 1, mib = DEFAULT_MIB, round;
	size_t words, bad;
	uint64_t *mem;
	int opt, ret;

	while ((opt = getopt(argc, argv, "n:m:e:")) != -1) {
		switch (opt) {
		case 'n':
			rounds = strtoul(optarg, NULL, 0);
			break;
		case 'm':
			mib = strtoul(optarg, NULL, 0);
			break;
		case 'e':
			expect = optarg;
			break;
		default:
			ksft_exit_fail_msg("bad option\n");
		}
	}
	for (; optind < argc; optind++) {
		strncat(opts, " ", sizeof(opts) - strlen(opts) - 1);
		strncat(opts, argv[optind], sizeof(opts) - strlen(opts) - 1);
	}

	ksft_print_header();
	harness_required();
	ksft_set_plan(rounds * CHECKS_PER_ROUND);
	words = (size_t)mib * MIB / sizeof(*mem);
	mem = mmap(NULL, words * sizeof(*mem), PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED)
		ksft_exit_fail_perror("mmap");

	for (round = 1; round <= rounds; round++) {
		fill(mem, words, round);
		ret = host_cmd(reply, sizeof(reply), "migrate%s", opts);
		ksft_test_result(!ret, "round %u: migrate reply\n", round);
		ksft_print_msg("round %u: %s\n", round, reply);
		if (ret || json_get(reply, "status", status, sizeof(status)))
			status[0] = '\0';
		ksft_test_result(!strcmp(status, expect),
				 "round %u: status '%s' (expected '%s')\n",
				 round, status, expect);
		bad = verify(mem, words, round);
		ksft_test_result(!bad, "round %u: %u MiB pattern intact (%zu bad words)\n",
				 round, mib, bad);
	}
	ksft_finished();
}
