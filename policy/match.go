package policy

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
)

// smallSet is the size up to which a stringSet scans a slice instead of
// hashing: for the one to few values a rule usually lists, comparing
// strings is faster than a map lookup.
const smallSet = 8

// stringSet is a set of strings, built once at Compile.
type stringSet struct {
	list []string            // the distinct values, in order
	m    map[string]struct{} // set when len(list) > smallSet
}

func newStringSet(values []string) stringSet {
	var s stringSet
	for _, v := range values {
		if !contains(s.list, v) {
			s.list = append(s.list, v)
		}
	}
	if len(s.list) > smallSet {
		s.m = make(map[string]struct{}, len(s.list))
		for _, v := range s.list {
			s.m[v] = struct{}{}
		}
	}
	return s
}

func (s *stringSet) empty() bool { return len(s.list) == 0 }

func (s *stringSet) has(v string) bool {
	if s.m != nil {
		_, ok := s.m[v]
		return ok
	}
	return contains(s.list, v)
}

// hasBytes is has for a byte slice, without converting it to a string on
// the heap.
func (s *stringSet) hasBytes(b []byte) bool {
	if s.m != nil {
		_, ok := s.m[string(b)]
		return ok
	}
	for _, v := range s.list {
		if v == string(b) {
			return true
		}
	}
	return false
}

// hasAny reports whether any of vs is in the set.
func (s *stringSet) hasAny(vs []string) bool {
	for _, v := range vs {
		if s.has(v) {
			return true
		}
	}
	return false
}

// matchClaim reports whether a claim value matches the rule's values: a
// scalar directly, a list by any of its elements (one level deep).
func (r *compiledRule) matchClaim(v any) bool {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if r.matchScalar(e) {
				return true
			}
		}
		return false
	case []string:
		return r.values.hasAny(v)
	}
	return r.matchScalar(v)
}

// matchScalar matches a string, bool or number claim value; anything else
// matches nothing.
func (r *compiledRule) matchScalar(v any) bool {
	var buf [32]byte
	var b []byte
	switch v := v.(type) {
	case string:
		return r.values.has(v)
	case bool:
		if v {
			return r.matchTrue
		}
		return r.matchFalse
	case float64:
		if b = appendFloat(buf[:0], v); b == nil {
			return false
		}
	case float32:
		if b = appendFloat(buf[:0], float64(v)); b == nil {
			return false
		}
	case int:
		b = strconv.AppendInt(buf[:0], int64(v), 10)
	case int8:
		b = strconv.AppendInt(buf[:0], int64(v), 10)
	case int16:
		b = strconv.AppendInt(buf[:0], int64(v), 10)
	case int32:
		b = strconv.AppendInt(buf[:0], int64(v), 10)
	case int64:
		b = strconv.AppendInt(buf[:0], v, 10)
	case uint:
		b = strconv.AppendUint(buf[:0], uint64(v), 10)
	case uint8:
		b = strconv.AppendUint(buf[:0], uint64(v), 10)
	case uint16:
		b = strconv.AppendUint(buf[:0], uint64(v), 10)
	case uint32:
		b = strconv.AppendUint(buf[:0], uint64(v), 10)
	case uint64:
		b = strconv.AppendUint(buf[:0], v, 10)
	case json.Number:
		n, ok := canonicalNumber(string(v))
		return ok && r.numbers.has(n)
	default:
		return false
	}
	return r.numbers.hasBytes(b)
}

// canonicalNumber returns the canonical form of a decimal number written
// as text, as appendFloat or strconv.AppendInt would write the same value,
// and false if s is not a finite decimal number. It runs at Compile, and
// for json.Number claims.
func canonicalNumber(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
		default:
			return "", false // no hex, underscores, "Inf" or "NaN"
		}
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return strconv.FormatInt(i, 10), true
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return strconv.FormatUint(u, 10), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", false
	}
	b := appendFloat(nil, f)
	return string(b), b != nil
}

// appendFloat appends the canonical form of f: integral values that fit in
// an int64 as integers, others in the shortest exact 'g' form. It returns
// nil for NaN and infinities, which match nothing.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		return strconv.AppendInt(b, int64(f), 10)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// toolMatcher matches tool names against names and "*" patterns, built
// once at Compile.
type toolMatcher struct {
	names    stringSet  // values without "*"
	patterns [][]string // the others, split at "*"
}

// newToolMatcher checks and compiles tool rule values.
func newToolMatcher(values []string) (toolMatcher, error) {
	var m toolMatcher
	if len(values) == 0 {
		return m, errors.New("no tools")
	}
	var names []string
	for _, v := range values {
		if v == "" {
			return m, errors.New("empty tool name")
		}
		if !strings.Contains(v, "*") {
			names = append(names, v)
			continue
		}
		m.patterns = append(m.patterns, strings.Split(v, "*"))
	}
	m.names = newStringSet(names)
	return m, nil
}

// match reports whether tool is one of the names or matches a pattern.
func (m *toolMatcher) match(tool string) bool {
	if m.names.has(tool) {
		return true
	}
	for _, p := range m.patterns {
		if globMatch(p, tool) {
			return true
		}
	}
	return false
}

// globMatch matches s against a pattern split at its "*"s (so it has at
// least two parts): s starts with the first part, ends with the last, and
// holds the others in order between them without overlap.
func globMatch(parts []string, s string) bool {
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return true
}
