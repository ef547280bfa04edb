/* leaderboard.h - ranking products by their results on one scenario.
 *
 * Pure computation, no I/O: the caller picks the results to consider (for
 * GetLeaderboard, the published results of one scenario@version) and gets
 * one LeaderboardEntry per product, best first.
 *
 * Rules:
 * - Only PASS and FAIL results rank; INVALID (the run broke the rules) and
 *   ERROR (the harness could not run it) never do, and a product with only
 *   such results has no entry.
 * - A product's best result: PASS before FAIL, then the better score (the
 *   direction is the scenario's: higher_is_better or lower), then the newer
 *   (ended_unix_ms, then run_id). A NaN score is worse than any number.
 * - Products are ordered the same way by their best results (then by name,
 *   so equal inputs always give the same list).
 * - entry.runs counts the product's PASS and FAIL results; score_low and
 *   score_high are the lowest and highest non-NaN score among the product's
 *   results with the same verdict as its best (NaN if there is none).
 * - Ties: two neighbours in that order are tied when they have the same
 *   verdict and either their [score_low, score_high] ranges overlap or their
 *   best scores differ by less than 1% relative to the larger magnitude
 *   (the noise floor of a shared machine). Tied neighbours share the rank of
 *   the first of their group, the next entry skips ahead ("1, 1, 3"), and
 *   all of them have tied = true. Ties chain along the sorted list only
 *   between neighbours: if A ties B and B ties C, all three share a rank
 *   even when A and C alone would not tie; entries that are not neighbours
 *   are never compared.
 */
#ifndef SBX_LEADERBOARD_H
#define SBX_LEADERBOARD_H

#include <stddef.h>

#include "sbx/v1/api.pb-c.h"

/* Relative difference of best scores under which neighbours are tied. */
#define SBX_LEADERBOARD_TIE_RELATIVE 0.01

/* Ranks results[0..n) (no element may be NULL; results may be NULL when n
 * is 0) as described above, and stores the entries in out->entries and
 * out->n_entries; out->higher_is_better is set too, the other fields of out
 * are left alone. Every entry, its product and its best summary are deep
 * copies, malloc'd so that
 * sbx__v1__get_leaderboard_response__free_unpacked(out, NULL) frees them
 * (for an out that lives on the stack, free the entries one by one with
 * sbx__v1__leaderboard_entry__free_unpacked and then out->entries).
 * out must have no entries yet. Returns 0 (an empty input gives no entries);
 * SBX_EINVAL (out NULL, out already has entries, or a NULL result); or
 * SBX_ENOMEM, with out->entries NULL and out->n_entries 0. The results are
 * not modified. */
int sbx_leaderboard_build(Sbx__V1__ResultSummary *const *results, size_t n,
                          int higher_is_better,
                          Sbx__V1__GetLeaderboardResponse *out);

#endif
