package caddymodule

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// didYouMean returns ` (did you mean "x"?)` when one of known is close to
// input — the same word in another case, or at most two edits away — and
// "" otherwise. Of several candidates the nearest wins; ties go to the
// first in known.
func didYouMean(input string, known ...string) string {
	if input == "" {
		return ""
	}
	best, bestDist := "", 3
	for _, k := range known {
		if k == input {
			continue
		}
		if strings.EqualFold(k, input) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
		// Distances near the word's own length are coincidence, not typos:
		// "ca" is two edits from "id" but nobody meant one for the other.
		if d := levenshtein(strings.ToLower(input), strings.ToLower(k)); d < bestDist && d < len([]rune(k)) && d < len([]rune(input)) {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// levenshtein is the edit distance between a and b, in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// unrecognizedOption is the error for an option no case of a parser's
// switch knows: `unrecognized <what> option "x"`, with a suggestion from
// known (the slice kept next to that switch) and extra.
func unrecognizedOption(d *caddyfile.Dispenser, what, opt string, known []string, extra ...string) error {
	return d.Errf("unrecognized %s option %q%s", what, opt, didYouMean(opt, append(append([]string(nil), known...), extra...)...))
}
