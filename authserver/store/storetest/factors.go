package storetest

// The factor cases of the conformance suite: lookups by a user's key and
// across users, the uniqueness of user, kind and ID, the listing orders,
// updates, one-time values spent once under concurrent updates, and
// deletion of one factor or of all a user's.

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// factor is a confirmed factor of user, created at created, never used.
func factor(userID string, kind store.FactorKind, id string, created time.Time) store.Factor {
	return store.Factor{
		UserID: userID, Kind: kind, ID: id, Name: fmt.Sprintf("%s of %s", kind, userID),
		Data: []byte(`{"id":"` + id + `"}`), Confirmed: true, CreatedAt: created,
	}
}

func sameFactor(a, b store.Factor) bool {
	return a.UserID == b.UserID && a.Kind == b.Kind && a.ID == b.ID && a.Name == b.Name &&
		bytes.Equal(a.Data, b.Data) && a.Confirmed == b.Confirmed && a.CreatedAt.Equal(b.CreatedAt) &&
		a.LastUsed.Equal(b.LastUsed)
}

// factorKey names a factor in failure messages and order checks.
func factorKey(f store.Factor) string { return f.UserID + "/" + string(f.Kind) + "/" + f.ID }

func factorKeys(factors []store.Factor) []string {
	keys := []string{}
	for _, f := range factors {
		keys = append(keys, factorKey(f))
	}
	return keys
}

func createFactors(t *testing.T, s store.Store, factors ...store.Factor) {
	t.Helper()
	for _, f := range factors {
		if err := s.CreateFactor(ctx(t), f); err != nil {
			t.Fatalf("CreateFactor(%s): %v", factorKey(f), err)
		}
	}
}

// testFactorLookups stores factors of every kind and finds each by its
// key, and none by a key that is not exactly one's.
func testFactorLookups(t *testing.T, s store.Store) {
	c := ctx(t)
	totp := factor("alice", store.FactorTOTP, "totp", base)
	totp.Data, totp.LastUsed = []byte("enc:\x00\x01\xfe\xff"), base.Add(time.Hour) // binary Data
	recovery := factor("alice", store.FactorRecoveryCodes, "recovery", base)
	recovery.Data, recovery.Confirmed, recovery.Name = nil, false, "" // no data, unconfirmed, unnamed
	key := factor("alice", store.FactorWebAuthn, "cred-A", base.Add(time.Minute))
	key.Name = "YubiKey 5"
	bobs := factor("bob", store.FactorWebAuthn, "cred-B", base)
	createFactors(t, s, totp, recovery, key, bobs)

	tests := []struct {
		name   string
		userID string
		kind   store.FactorKind
		id     string
		want   *store.Factor // nil: ErrNotFound
	}{
		{"totp", "alice", store.FactorTOTP, "totp", &totp},
		{"recovery codes, unconfirmed, without data", "alice", store.FactorRecoveryCodes, "recovery", &recovery},
		{"webauthn", "alice", store.FactorWebAuthn, "cred-A", &key},
		{"another user's webauthn", "bob", store.FactorWebAuthn, "cred-B", &bobs},
		{"unknown user", "carol", store.FactorTOTP, "totp", nil},
		{"empty user", "", store.FactorTOTP, "totp", nil},
		{"user differing in case", "Alice", store.FactorTOTP, "totp", nil},
		{"ID under another kind", "alice", store.FactorWebAuthn, "totp", nil},
		{"unknown ID", "alice", store.FactorWebAuthn, "cred-C", nil},
		{"ID differing in case", "alice", store.FactorWebAuthn, "CRED-A", nil},
		{"another user's ID", "alice", store.FactorWebAuthn, "cred-B", nil},
		{"a user's ID under another user", "bob", store.FactorWebAuthn, "cred-A", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.GetFactor(c, tc.userID, tc.kind, tc.id)
			if tc.want == nil {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("GetFactor = %+v, %v; want ErrNotFound", got, err)
				}
				return
			}
			if err != nil || !sameFactor(got, *tc.want) {
				t.Fatalf("GetFactor = %+v, %v; want %+v", got, err, *tc.want)
			}
		})
	}
}

// testFactorDuplicates creates factors that share part of a stored one's
// key: only the whole key (user, kind, ID) is unique.
func testFactorDuplicates(t *testing.T, s store.Store) {
	c := ctx(t)
	totp := factor("alice", store.FactorTOTP, "totp", base)
	key := factor("alice", store.FactorWebAuthn, "cred-1", base)
	createFactors(t, s, totp, key)
	other := func(f store.Factor) store.Factor {
		f.Name, f.Data, f.Confirmed, f.CreatedAt = "Other", []byte("other"), false, base.Add(time.Hour)
		return f
	}

	tests := []struct {
		name    string
		factor  store.Factor
		wantErr error
	}{
		{"taken totp", other(totp), store.ErrAlreadyExists},
		{"taken webauthn credential", other(key), store.ErrAlreadyExists},
		{"second webauthn credential", factor("alice", store.FactorWebAuthn, "cred-2", base), nil},
		{"same ID under another kind", factor("alice", store.FactorWebAuthn, "totp", base), nil},
		{"same kind and ID for another user", factor("bob", store.FactorWebAuthn, "cred-1", base), nil},
		{"ID differing in case", factor("alice", store.FactorWebAuthn, "CRED-1", base), nil},
		{"user differing in case", factor("Alice", store.FactorTOTP, "totp", base), nil},
		{"the new one again", factor("bob", store.FactorWebAuthn, "cred-1", base), store.ErrAlreadyExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.CreateFactor(c, tc.factor); !errors.Is(err, tc.wantErr) {
				t.Fatalf("CreateFactor(%s) = %v; want %v", factorKey(tc.factor), err, tc.wantErr)
			}
		})
	}
	// The duplicates overwrote nothing.
	for _, want := range []store.Factor{totp, key} {
		if got, err := s.GetFactor(c, want.UserID, want.Kind, want.ID); err != nil || !sameFactor(got, want) {
			t.Errorf("GetFactor(%s) = %+v, %v; want it unchanged, %+v", factorKey(want), got, err, want)
		}
	}
	if got, err := s.ListFactors(c, "alice"); err != nil || len(got) != 5 {
		t.Errorf("ListFactors(alice) = %q, %v; want the 2 first and the 3 of alice that did not clash", factorKeys(got), err)
	}
}

// testFactorList lists users' factors: by kind, then CreatedAt, then ID,
// kinds and IDs byte-wise (upper case first), whatever the database's
// collation; only the user's own.
func testFactorList(t *testing.T, s store.Store) {
	c := ctx(t)
	if got, err := s.ListFactors(c, "alice"); err != nil || len(got) != 0 {
		t.Fatalf("ListFactors on an empty store = %q, %v; want none", factorKeys(got), err)
	}
	legacy := store.FactorKind("Legacy") // a kind the store does not know
	createFactors(t, s,
		factor("alice", store.FactorWebAuthn, "k2", base.Add(2*time.Hour)),
		factor("alice", store.FactorTOTP, "totp", base.Add(5*time.Hour)),
		factor("alice", store.FactorWebAuthn, "b", base.Add(3*time.Hour)),
		factor("alice", store.FactorWebAuthn, "k1", base.Add(time.Hour)),
		factor("bob", store.FactorWebAuthn, "k0", base),
		factor("alice", store.FactorWebAuthn, "B", base.Add(3*time.Hour)),
		factor("alice", store.FactorRecoveryCodes, "recovery", base.Add(4*time.Hour)),
		factor("alice", store.FactorWebAuthn, "a", base.Add(3*time.Hour)),
		factor("alice", legacy, "x", base.Add(6*time.Hour)),
		factor("Alice", store.FactorTOTP, "totp", base),
		factor("alice2", store.FactorTOTP, "totp", base),
	)

	tests := []struct {
		userID string
		want   []string
	}{
		{"alice", []string{
			"alice/Legacy/x",
			"alice/recovery/recovery",
			"alice/totp/totp",
			"alice/webauthn/k1", // created first
			"alice/webauthn/k2",
			"alice/webauthn/B", // created together, then by ID
			"alice/webauthn/a",
			"alice/webauthn/b",
		}},
		{"bob", []string{"bob/webauthn/k0"}},
		{"Alice", []string{"Alice/totp/totp"}},
		{"alice2", []string{"alice2/totp/totp"}},
		{"carol", []string{}},
		{"", []string{}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("user %q", tc.userID), func(t *testing.T) {
			got, err := s.ListFactors(c, tc.userID)
			if err != nil {
				t.Fatalf("ListFactors: %v", err)
			}
			if keys := factorKeys(got); !slices.Equal(keys, tc.want) {
				t.Fatalf("ListFactors = %q; want %q", keys, tc.want)
			}
		})
	}
	got, _ := s.ListFactors(c, "alice")
	if want := factor("alice", store.FactorWebAuthn, "k1", base.Add(time.Hour)); len(got) < 4 || !sameFactor(got[3], want) {
		t.Fatalf("ListFactors returned %+v; want %+v fourth", got, want)
	}
}

// testFactorFind finds factors by kind and ID across users: a credential
// ID two users hold finds both, ordered by UserID byte-wise.
func testFactorFind(t *testing.T, s store.Store) {
	c := ctx(t)
	alices := factor("alice", store.FactorWebAuthn, "shared", base.Add(time.Hour))
	alices.LastUsed = base.Add(2 * time.Hour)
	createFactors(t, s,
		factor("bob", store.FactorWebAuthn, "shared", base),
		alices,
		factor("Zed", store.FactorWebAuthn, "shared", base.Add(time.Minute)),
		factor("carol", store.FactorWebAuthn, "solo", base),
		factor("alice", store.FactorTOTP, "totp", base),
		factor("bob", store.FactorTOTP, "totp", base),
		factor("dave", store.FactorRecoveryCodes, "shared", base),
	)

	tests := []struct {
		name string
		kind store.FactorKind
		id   string
		want []string
	}{
		{"a credential three users hold", store.FactorWebAuthn, "shared", []string{"Zed/webauthn/shared", "alice/webauthn/shared", "bob/webauthn/shared"}},
		{"a credential one user holds", store.FactorWebAuthn, "solo", []string{"carol/webauthn/solo"}},
		{"every user's totp", store.FactorTOTP, "totp", []string{"alice/totp/totp", "bob/totp/totp"}},
		{"the ID under another kind", store.FactorRecoveryCodes, "shared", []string{"dave/recovery/shared"}},
		{"an ID no factor of the kind has", store.FactorTOTP, "shared", []string{}},
		{"ID differing in case", store.FactorWebAuthn, "SHARED", []string{}},
		{"unknown ID", store.FactorWebAuthn, "none", []string{}},
		{"empty ID", store.FactorWebAuthn, "", []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.FindFactors(c, tc.kind, tc.id)
			if err != nil {
				t.Fatalf("FindFactors: %v", err)
			}
			if keys := factorKeys(got); !slices.Equal(keys, tc.want) {
				t.Fatalf("FindFactors = %q; want %q", keys, tc.want)
			}
		})
	}
	got, _ := s.FindFactors(c, store.FactorWebAuthn, "shared")
	if len(got) != 3 || !sameFactor(got[1], alices) {
		t.Fatalf("FindFactors returned %+v; want %+v second", got, alices)
	}
}

// testFactorUpdate applies updates in turn to one store: each case names
// the factor it updates, what the update does, the error expected, and
// the factor then stored under that key. Every update must be given the
// factor as stored.
func testFactorUpdate(t *testing.T, s store.Store) {
	c := ctx(t)
	totp := factor("alice", store.FactorTOTP, "totp", base)
	totp.Confirmed, totp.Data = false, []byte("enc:secret")
	key := factor("alice", store.FactorWebAuthn, "cred-1", base)
	key.Data, key.LastUsed = []byte{0x01, 0x00, 0xff}, base.Add(time.Minute)
	bobs := factor("bob", store.FactorWebAuthn, "cred-1", base)
	createFactors(t, s, totp, key, bobs)
	boom := errors.New("boom")
	later := base.Add(time.Hour)

	confirmed := totp
	confirmed.Confirmed, confirmed.LastUsed, confirmed.Data = true, later, []byte("enc:secret|step=1000")
	renamed := key
	renamed.Name, renamed.LastUsed, renamed.Data = "YubiKey 5C", time.Time{}, nil

	tests := []struct {
		name    string
		userID  string
		kind    store.FactorKind
		id      string
		update  func(store.Factor) (store.Factor, error)
		wantErr error
		want    store.Factor // stored afterwards; ignored for an unknown factor
	}{
		{
			name: "unknown ID", userID: "alice", kind: store.FactorWebAuthn, id: "cred-2",
			update:  func(f store.Factor) (store.Factor, error) { return f, nil },
			wantErr: store.ErrNotFound,
		},
		{
			name: "unknown user", userID: "carol", kind: store.FactorTOTP, id: "totp",
			update:  func(f store.Factor) (store.Factor, error) { return f, nil },
			wantErr: store.ErrNotFound,
		},
		{
			name: "ID under another kind", userID: "alice", kind: store.FactorRecoveryCodes, id: "totp",
			update:  func(f store.Factor) (store.Factor, error) { return f, nil },
			wantErr: store.ErrNotFound,
		},
		{
			name: "confirm, use, change data; the key cannot change", userID: "alice", kind: store.FactorTOTP, id: "totp",
			update: func(f store.Factor) (store.Factor, error) {
				f.Confirmed, f.LastUsed, f.Data = true, later, []byte("enc:secret|step=1000")
				f.UserID, f.Kind, f.ID = "mallory", store.FactorWebAuthn, "other"
				return f, nil
			},
			want: confirmed,
		},
		{
			name: "update error aborts", userID: "alice", kind: store.FactorTOTP, id: "totp",
			update: func(f store.Factor) (store.Factor, error) {
				f.Confirmed, f.Data, f.Name, f.LastUsed = false, []byte("spent"), "Lost", later.Add(time.Hour)
				return f, boom
			},
			wantErr: boom, want: confirmed,
		},
		{
			name: "rename, clear the last use and the data", userID: "alice", kind: store.FactorWebAuthn, id: "cred-1",
			update: func(f store.Factor) (store.Factor, error) {
				f.Name, f.LastUsed, f.Data = "YubiKey 5C", time.Time{}, nil
				return f, nil
			},
			want: renamed,
		},
		{
			name: "the other user's credential of the same ID", userID: "bob", kind: store.FactorWebAuthn, id: "cred-1",
			update: func(f store.Factor) (store.Factor, error) {
				f.Confirmed, f.CreatedAt = false, later
				return f, nil
			},
			want: func() store.Factor { f := bobs; f.Confirmed, f.CreatedAt = false, later; return f }(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := s.GetFactor(c, tc.userID, tc.kind, tc.id)
			got, err := s.UpdateFactor(c, tc.userID, tc.kind, tc.id, func(f store.Factor) (store.Factor, error) {
				if !sameFactor(f, before) {
					t.Errorf("update was given %+v; want the stored %+v", f, before)
				}
				return tc.update(f)
			})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("UpdateFactor = %+v, %v; want %v", got, err, tc.wantErr)
				}
			} else if err != nil || !sameFactor(got, tc.want) {
				t.Fatalf("UpdateFactor = %+v, %v; want %+v", got, err, tc.want)
			}
			if errors.Is(tc.wantErr, store.ErrNotFound) {
				return
			}
			if stored, err := s.GetFactor(c, tc.userID, tc.kind, tc.id); err != nil || !sameFactor(stored, tc.want) {
				t.Fatalf("stored %+v, %v; want %+v", stored, err, tc.want)
			}
		})
	}
	// No update created or moved a factor.
	for _, key := range []struct {
		userID string
		kind   store.FactorKind
		id     string
	}{
		{"mallory", store.FactorWebAuthn, "other"},
		{"alice", store.FactorWebAuthn, "other"},
		{"alice", store.FactorWebAuthn, "cred-2"},
		{"carol", store.FactorTOTP, "totp"},
		{"alice", store.FactorRecoveryCodes, "totp"},
	} {
		if got, err := s.GetFactor(c, key.userID, key.kind, key.id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetFactor(%s/%s/%s) = %+v, %v; want ErrNotFound", key.userID, key.kind, key.id, got, err)
		}
	}
	if got, err := s.ListFactors(c, "alice"); err != nil || len(got) != 2 {
		t.Errorf("ListFactors(alice) = %q, %v; want its 2 factors", factorKeys(got), err)
	}
}

// errSpent is what the spending updates of testFactorConcurrentSpend
// return for a value spent before.
var errSpent = errors.New("already spent")

// spend returns an update that records value as spent in the factor's
// Data, a comma-separated list of spent values, or fails with errSpent
// if it is there already: what a TOTP check does with the time step it
// accepts, and a recovery code check with the code.
func spend(value string, now time.Time) func(store.Factor) (store.Factor, error) {
	return func(f store.Factor) (store.Factor, error) {
		var spent []string
		if len(f.Data) > 0 {
			spent = strings.Split(string(f.Data), ",")
		}
		if slices.Contains(spent, value) {
			return f, errSpent
		}
		f.Data = []byte(strings.Join(append(spent, value), ","))
		f.LastUsed = now
		return f, nil
	}
}

// testFactorConcurrentSpend has many callers spend one-time values of a
// factor at once: a value is spent exactly once, and no spending is lost.
func testFactorConcurrentSpend(t *testing.T, s store.Store) {
	const callers = 12
	tests := []struct {
		name  string
		kind  store.FactorKind
		id    string
		value func(caller int) string // what the caller spends
		// wantSpent is what Data lists at the end, in any order; a value
		// in it was spent by exactly one caller, and every other caller
		// that tried it saw errSpent.
		wantSpent []string
	}{
		{
			name: "every caller the same TOTP step", kind: store.FactorTOTP, id: "totp",
			value:     func(int) string { return "step:1000" },
			wantSpent: []string{"step:1000"},
		},
		{
			name: "every caller its own recovery code", kind: store.FactorRecoveryCodes, id: "recovery",
			value: func(i int) string { return fmt.Sprint("code:", i) },
			wantSpent: func() []string {
				var codes []string
				for i := range callers {
					codes = append(codes, fmt.Sprint("code:", i))
				}
				return codes
			}(),
		},
		{
			name: "callers sharing three recovery codes", kind: store.FactorRecoveryCodes, id: "recovery",
			value:     func(i int) string { return fmt.Sprint("code:", i%3) },
			wantSpent: []string{"code:0", "code:1", "code:2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ctx(t)
			userID := "user-" + strings.ReplaceAll(tc.name, " ", "-")
			f := factor(userID, tc.kind, tc.id, base)
			f.Data = nil
			createFactors(t, s, f)
			other := factor("other-"+userID, tc.kind, tc.id, base)
			createFactors(t, s, other)

			var wins, replays atomic.Int32
			winners := make([]bool, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := s.UpdateFactor(c, userID, tc.kind, tc.id, spend(tc.value(i), base.Add(time.Duration(i+1)*time.Second)))
					switch {
					case err == nil:
						wins.Add(1)
						winners[i] = true
						if !got.LastUsed.Equal(base.Add(time.Duration(i+1) * time.Second)) {
							t.Errorf("caller %d got %+v; want its own LastUsed", i, got)
						}
					case errors.Is(err, errSpent):
						replays.Add(1)
					default:
						t.Errorf("UpdateFactor: %v", err)
					}
				}()
			}
			wg.Wait()
			if int(wins.Load()) != len(tc.wantSpent) || int(replays.Load()) != callers-len(tc.wantSpent) {
				t.Fatalf("%d callers: %d spent a value, %d saw it spent; want %d and %d",
					callers, wins.Load(), replays.Load(), len(tc.wantSpent), callers-len(tc.wantSpent))
			}
			stored, err := s.GetFactor(c, userID, tc.kind, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			spent := strings.Split(string(stored.Data), ",")
			slices.Sort(spent)
			want := slices.Sorted(slices.Values(tc.wantSpent))
			if !slices.Equal(spent, want) {
				t.Fatalf("spent values stored: %q; want %q once each", spent, want)
			}
			// The last update stored wins LastUsed: it is one winner's.
			var lastUsedByWinner bool
			for i, won := range winners {
				lastUsedByWinner = lastUsedByWinner || won && stored.LastUsed.Equal(base.Add(time.Duration(i+1)*time.Second))
			}
			if !lastUsedByWinner {
				t.Errorf("stored LastUsed %v is no winner's", stored.LastUsed)
			}
			if got, err := s.GetFactor(c, other.UserID, other.Kind, other.ID); err != nil || !sameFactor(got, other) {
				t.Errorf("another user's factor changed: %+v, %v", got, err)
			}
		})
	}
}

// testFactorDelete deletes factors one at a time: only the exact key
// goes, and it is free again afterwards.
func testFactorDelete(t *testing.T, s store.Store) {
	c := ctx(t)
	totp := factor("alice", store.FactorTOTP, "totp", base)
	key1 := factor("alice", store.FactorWebAuthn, "cred-1", base)
	key2 := factor("alice", store.FactorWebAuthn, "cred-2", base)
	bobs := factor("bob", store.FactorWebAuthn, "cred-1", base)
	createFactors(t, s, totp, key1, key2, bobs)

	tests := []struct {
		name    string
		userID  string
		kind    store.FactorKind
		id      string
		wantErr error
	}{
		{"a credential another user holds too", "alice", store.FactorWebAuthn, "cred-1", nil},
		{"twice", "alice", store.FactorWebAuthn, "cred-1", store.ErrNotFound},
		{"ID differing in case", "alice", store.FactorWebAuthn, "CRED-2", store.ErrNotFound},
		{"ID under another kind", "alice", store.FactorRecoveryCodes, "totp", store.ErrNotFound},
		{"unknown user", "carol", store.FactorTOTP, "totp", store.ErrNotFound},
		{"totp", "alice", store.FactorTOTP, "totp", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.DeleteFactor(c, tc.userID, tc.kind, tc.id); !errors.Is(err, tc.wantErr) {
				t.Fatalf("DeleteFactor(%s/%s/%s) = %v; want %v", tc.userID, tc.kind, tc.id, err, tc.wantErr)
			}
			if _, err := s.GetFactor(c, tc.userID, tc.kind, tc.id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("GetFactor after DeleteFactor: %v; want ErrNotFound", err)
			}
		})
	}
	if got, err := s.ListFactors(c, "alice"); err != nil || len(got) != 1 || !sameFactor(got[0], key2) {
		t.Errorf("ListFactors(alice) = %+v, %v; want only %s", got, err, factorKey(key2))
	}
	if got, err := s.FindFactors(c, store.FactorWebAuthn, "cred-1"); err != nil || len(got) != 1 || !sameFactor(got[0], bobs) {
		t.Errorf("FindFactors(cred-1) = %+v, %v; want only bob's", got, err)
	}
	// A deleted factor's key is free again.
	if err := s.CreateFactor(c, key1); err != nil {
		t.Errorf("re-creating a deleted factor: %v", err)
	}
}

// testDeleteUserFactors deletes all of a user's factors and none of
// anybody else's, even of user IDs that differ only in case or extend it.
func testDeleteUserFactors(t *testing.T, s store.Store) {
	c := ctx(t)
	createFactors(t, s,
		factor("alice", store.FactorTOTP, "totp", base),
		factor("alice", store.FactorRecoveryCodes, "recovery", base),
		factor("alice", store.FactorWebAuthn, "shared", base),
		factor("alice2", store.FactorTOTP, "totp", base),
		factor("Alice", store.FactorTOTP, "totp", base),
		factor("bob", store.FactorWebAuthn, "shared", base),
		factor("bob", store.FactorTOTP, "totp", base),
	)

	tests := []struct {
		userID string
		want   int64
	}{
		{"nobody", 0},
		{"", 0},
		{"alice", 3},
		{"alice", 0}, // again
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d user %q", i, tc.userID), func(t *testing.T) {
			if n, err := s.DeleteUserFactors(c, tc.userID); err != nil || n != tc.want {
				t.Fatalf("DeleteUserFactors = %d, %v; want %d", n, err, tc.want)
			}
			if got, err := s.ListFactors(c, tc.userID); err != nil || len(got) != 0 {
				t.Fatalf("ListFactors afterwards = %q, %v; want none", factorKeys(got), err)
			}
		})
	}
	for _, remains := range []struct {
		userID string
		want   []string
	}{
		{"alice2", []string{"alice2/totp/totp"}},
		{"Alice", []string{"Alice/totp/totp"}},
		{"bob", []string{"bob/totp/totp", "bob/webauthn/shared"}},
	} {
		if got, err := s.ListFactors(c, remains.userID); err != nil || !slices.Equal(factorKeys(got), remains.want) {
			t.Errorf("ListFactors(%q) = %q, %v; want %q", remains.userID, factorKeys(got), err, remains.want)
		}
	}
	if got, err := s.FindFactors(c, store.FactorWebAuthn, "shared"); err != nil || !slices.Equal(factorKeys(got), []string{"bob/webauthn/shared"}) {
		t.Errorf("FindFactors(shared) = %q, %v; want only bob's", factorKeys(got), err)
	}
}
