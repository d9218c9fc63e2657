package storetest

// The user cases of the conformance suite: lookups by each key, the
// uniqueness of ID, username and provider pair, updates, deletion, the
// listing order, and revoking a subject's tokens.

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// localUser is a user created with a password: its ID is its username
// and it has no provider.
func localUser(username string) store.UserRecord {
	return store.UserRecord{
		ID: username, Username: username, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Email: username + "@example.com", EmailVerified: true, Name: "User " + username,
		Groups: []string{"staff", "dev"}, CreatedAt: base, UpdatedAt: base,
	}
}

// federatedUser is a user who signed in through provider, known there as
// subject.
func federatedUser(id, username, provider, subject string) store.UserRecord {
	return store.UserRecord{
		ID: id, Username: username, Provider: provider, ProviderSubject: subject,
		Email: username, Name: "Federated " + username, CreatedAt: base, UpdatedAt: base,
		LastLogin: base.Add(time.Minute),
	}
}

func sameUser(a, b store.UserRecord) bool {
	return a.ID == b.ID && a.Username == b.Username && a.Provider == b.Provider &&
		a.ProviderSubject == b.ProviderSubject && a.PasswordHash == b.PasswordHash && a.Email == b.Email &&
		a.EmailVerified == b.EmailVerified && a.Name == b.Name && slices.Equal(a.Groups, b.Groups) &&
		a.Disabled == b.Disabled && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) &&
		a.LastLogin.Equal(b.LastLogin)
}

func createUsers(t *testing.T, s store.Store, users ...store.UserRecord) {
	t.Helper()
	for _, u := range users {
		if err := s.CreateUser(ctx(t), u); err != nil {
			t.Fatalf("CreateUser(%q): %v", u.ID, err)
		}
	}
}

// testUserLookups stores a local and a federated user and finds each by
// every key, and nobody by keys that are not theirs.
func testUserLookups(t *testing.T, s store.Store) {
	c := ctx(t)
	alice := localUser("alice")
	bob := federatedUser("u-7f3a", "bob@example.org", "github", "4711")
	bob.Disabled = true
	createUsers(t, s, alice, bob)

	tests := []struct {
		name string
		get  func() (store.UserRecord, error)
		want *store.UserRecord // nil: ErrNotFound
	}{
		{"local by ID", func() (store.UserRecord, error) { return s.GetUser(c, "alice") }, &alice},
		{"local by username", func() (store.UserRecord, error) { return s.GetUserByUsername(c, "alice") }, &alice},
		{"federated by ID", func() (store.UserRecord, error) { return s.GetUser(c, "u-7f3a") }, &bob},
		{"federated by username", func() (store.UserRecord, error) { return s.GetUserByUsername(c, "bob@example.org") }, &bob},
		{"federated by provider", func() (store.UserRecord, error) { return s.GetUserByProvider(c, "github", "4711") }, &bob},
		{"unknown ID", func() (store.UserRecord, error) { return s.GetUser(c, "carol") }, nil},
		{"username as ID", func() (store.UserRecord, error) { return s.GetUser(c, "bob@example.org") }, nil},
		{"ID as username", func() (store.UserRecord, error) { return s.GetUserByUsername(c, "u-7f3a") }, nil},
		{"username differing in case", func() (store.UserRecord, error) { return s.GetUserByUsername(c, "Alice") }, nil},
		{"unknown subject", func() (store.UserRecord, error) { return s.GetUserByProvider(c, "github", "4712") }, nil},
		{"subject under another provider", func() (store.UserRecord, error) { return s.GetUserByProvider(c, "google", "4711") }, nil},
		{"empty provider finds no local user", func() (store.UserRecord, error) { return s.GetUserByProvider(c, "", "") }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.get()
			if tc.want == nil {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("got %+v, %v; want ErrNotFound", got, err)
				}
				return
			}
			if err != nil || !sameUser(got, *tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, *tc.want)
			}
		})
	}
}

// testUserDuplicates creates users that share a key with a stored one:
// the ID, the username and a federated user's provider pair are unique,
// but local users, whose provider is empty, never clash over it.
func testUserDuplicates(t *testing.T, s store.Store) {
	c := ctx(t)
	alice := localUser("alice")
	bob := federatedUser("u-1", "bob", "github", "42")
	createUsers(t, s, alice, bob)

	tests := []struct {
		name    string
		user    store.UserRecord
		wantErr error
	}{
		{"taken ID", federatedUser("alice", "alice2", "github", "43"), store.ErrAlreadyExists},
		{"taken username", federatedUser("u-2", "alice", "github", "44"), store.ErrAlreadyExists},
		{"taken provider pair", federatedUser("u-3", "bobby", "github", "42"), store.ErrAlreadyExists},
		{"taken provider pair, other ID and username", federatedUser("u-4", "robert", "github", "42"), store.ErrAlreadyExists},
		{"second local user", localUser("carol"), nil},
		{"third local user", localUser("dave"), nil},
		{"same subject at another provider", federatedUser("u-5", "bob-google", "google", "42"), nil},
		{"other subject at the same provider", federatedUser("u-6", "bob-2", "github", "43"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateUser(c, tc.user)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("CreateUser(%+v) = %v; want %v", tc.user, err, tc.wantErr)
			}
		})
	}
	// The duplicates overwrote nothing.
	for _, want := range []store.UserRecord{alice, bob} {
		if got, err := s.GetUser(c, want.ID); err != nil || !sameUser(got, want) {
			t.Errorf("GetUser(%q) = %+v, %v; want it unchanged, %+v", want.ID, got, err, want)
		}
	}
	if got, err := s.GetUserByProvider(c, "github", "42"); err != nil || got.ID != "u-1" {
		t.Errorf("GetUserByProvider(github, 42) = %+v, %v; want u-1", got, err)
	}
	users, err := s.ListUsers(c)
	if err != nil || len(users) != 6 {
		t.Fatalf("ListUsers = %d users, %v; want the 2 first and the 4 that did not clash", len(users), err)
	}
}

// testUserUpdate applies updates in turn to one store: each case names
// the user it updates, what the update does, the error expected, and the
// record then stored under that ID.
func testUserUpdate(t *testing.T, s store.Store) {
	c := ctx(t)
	alice := localUser("alice")
	bob := federatedUser("u-1", "bob", "github", "42")
	carol := federatedUser("u-2", "carol", "github", "43")
	createUsers(t, s, alice, bob, carol)
	boom := errors.New("boom")
	later := base.Add(time.Hour)

	renamed := alice
	renamed.Username, renamed.Name, renamed.Groups, renamed.Disabled, renamed.UpdatedAt = "alice2", "Alice Two", nil, true, later
	relinked := bob
	relinked.ProviderSubject, relinked.LastLogin, relinked.EmailVerified = "99", time.Time{}, true

	tests := []struct {
		name    string
		id      string
		update  func(store.UserRecord) (store.UserRecord, error)
		wantErr error
		want    store.UserRecord // stored afterwards; ignored for an unknown ID
	}{
		{
			name: "unknown user", id: "nobody",
			update:  func(u store.UserRecord) (store.UserRecord, error) { return u, nil },
			wantErr: store.ErrNotFound,
		},
		{
			name: "rename, clear groups, disable; the ID cannot change", id: "alice",
			update: func(u store.UserRecord) (store.UserRecord, error) {
				u.ID, u.Username, u.Name, u.Groups, u.Disabled, u.UpdatedAt = "mallory", "alice2", "Alice Two", []string{}, true, later
				return u, nil
			},
			want: renamed,
		},
		{
			name: "rename to a taken username", id: "alice",
			update: func(u store.UserRecord) (store.UserRecord, error) {
				u.Username, u.Name = "bob", "Not Bob"
				return u, nil
			},
			wantErr: store.ErrAlreadyExists, want: renamed,
		},
		{
			name: "relink to a taken provider pair", id: "u-1",
			update: func(u store.UserRecord) (store.UserRecord, error) {
				u.ProviderSubject = "43"
				return u, nil
			},
			wantErr: store.ErrAlreadyExists, want: bob,
		},
		{
			name: "relink to a free subject, clear the last login", id: "u-1",
			update: func(u store.UserRecord) (store.UserRecord, error) {
				u.ProviderSubject, u.LastLogin, u.EmailVerified = "99", time.Time{}, true
				return u, nil
			},
			want: relinked,
		},
		{
			name: "keep the own username", id: "u-2",
			update: func(u store.UserRecord) (store.UserRecord, error) {
				u.Groups = []string{"ops"}
				return u, nil
			},
			want: func() store.UserRecord { u := carol; u.Groups = []string{"ops"}; return u }(),
		},
		{
			name: "update error aborts", id: "u-2",
			update: func(u store.UserRecord) (store.UserRecord, error) {
				u.Username, u.Disabled = "carol2", true
				return u, boom
			},
			wantErr: boom,
			want:    func() store.UserRecord { u := carol; u.Groups = []string{"ops"}; return u }(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.UpdateUser(c, tc.id, tc.update)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("UpdateUser = %+v, %v; want %v", got, err, tc.wantErr)
				}
			} else if err != nil || !sameUser(got, tc.want) {
				t.Fatalf("UpdateUser = %+v, %v; want %+v", got, err, tc.want)
			}
			if errors.Is(tc.wantErr, store.ErrNotFound) {
				return
			}
			if stored, err := s.GetUser(c, tc.id); err != nil || !sameUser(stored, tc.want) {
				t.Fatalf("stored %+v, %v; want %+v", stored, err, tc.want)
			}
		})
	}
	// The lookups follow the updates.
	if _, err := s.GetUserByUsername(c, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the old username still finds a user: %v", err)
	}
	if got, err := s.GetUserByUsername(c, "alice2"); err != nil || got.ID != "alice" {
		t.Errorf("GetUserByUsername(alice2) = %+v, %v; want alice", got, err)
	}
	if got, err := s.GetUserByProvider(c, "github", "99"); err != nil || got.ID != "u-1" {
		t.Errorf("GetUserByProvider(github, 99) = %+v, %v; want u-1", got, err)
	}
	if _, err := s.GetUserByProvider(c, "github", "42"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the old provider subject still finds a user: %v", err)
	}
	if _, err := s.GetUser(c, "mallory"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an update changed a user's ID")
	}
}

// testUserConcurrentUpdate adds a group from many goroutines: a lost
// update shows as a missing group.
func testUserConcurrentUpdate(t *testing.T, s store.Store) {
	c := ctx(t)
	u := localUser("alice")
	u.Groups = nil
	createUsers(t, s, u)
	const callers = 12
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateUser(c, "alice", func(u store.UserRecord) (store.UserRecord, error) {
				u.Groups = append(u.Groups, fmt.Sprint("g", i))
				return u, nil
			})
			if err != nil {
				t.Errorf("UpdateUser: %v", err)
			}
		}()
	}
	wg.Wait()
	got, err := s.GetUser(c, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Groups) != callers {
		t.Fatalf("groups = %v after %d concurrent additions", got.Groups, callers)
	}
}

func testUserDelete(t *testing.T, s store.Store) {
	c := ctx(t)
	alice := localUser("alice")
	bob := federatedUser("u-1", "bob", "github", "42")
	createUsers(t, s, alice, bob)
	if err := s.DeleteUser(c, "u-1"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if err := s.DeleteUser(c, "u-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting twice: %v; want ErrNotFound", err)
	}
	if err := s.DeleteUser(c, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting an unknown user: %v; want ErrNotFound", err)
	}
	lookups := []struct {
		name string
		get  func() (store.UserRecord, error)
	}{
		{"by ID", func() (store.UserRecord, error) { return s.GetUser(c, "u-1") }},
		{"by username", func() (store.UserRecord, error) { return s.GetUserByUsername(c, "bob") }},
		{"by provider", func() (store.UserRecord, error) { return s.GetUserByProvider(c, "github", "42") }},
	}
	for _, l := range lookups {
		if got, err := l.get(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a deleted user is found %s: %+v, %v", l.name, got, err)
		}
	}
	if got, err := s.GetUser(c, "alice"); err != nil || !sameUser(got, alice) {
		t.Errorf("deleting bob changed alice: %+v, %v", got, err)
	}
	// The deleted user's keys are free again.
	if err := s.CreateUser(c, federatedUser("u-2", "bob", "github", "42")); err != nil {
		t.Errorf("reusing a deleted user's username and provider pair: %v", err)
	}
}

func testUserList(t *testing.T, s store.Store) {
	c := ctx(t)
	users, err := s.ListUsers(c)
	if err != nil || len(users) != 0 {
		t.Fatalf("ListUsers on an empty store = %+v, %v; want none", users, err)
	}
	// Byte order puts upper case before lower case, whatever the
	// database's collation.
	createUsers(t, s,
		federatedUser("u-1", "zoe", "github", "1"),
		localUser("bob"),
		localUser("Zed"),
		federatedUser("u-2", "alice", "google", "2"),
		localUser("bobby"),
	)
	users, err = s.ListUsers(c)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
	}
	if want := []string{"Zed", "alice", "bob", "bobby", "zoe"}; !slices.Equal(names, want) {
		t.Fatalf("ListUsers returned %q; want %q", names, want)
	}
	if !sameUser(users[1], federatedUser("u-2", "alice", "google", "2")) {
		t.Fatalf("ListUsers returned %+v for alice", users[1])
	}
}

// testRevokeSubjectTokens revokes one subject's records of every kind:
// the others' stay active, and the feed reports exactly that subject's.
func testRevokeSubjectTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	records := []struct {
		kind    store.TokenKind
		id      string
		subject string
	}{
		{store.Session, "s-alice", "alice"},
		{store.RefreshToken, "r-alice", "alice"},
		{store.AccessToken, "a-alice", "alice"},
		{store.AuthorizationCode, "c-alice", "alice"},
		{store.AccessToken, "a-alice-old", "alice"}, // revoked before
		{store.Session, "s-bob", "bob"},
		{store.AccessToken, "a-bob", "bob"},
		{store.AccessToken, "a-alice2", "alice2"},
		{store.AuthorizeRequest, "pending", ""},
	}
	for _, r := range records {
		tok := token(r.kind, r.id)
		tok.Subject = r.subject
		if err := s.CreateToken(c, tok); err != nil {
			t.Fatal(err)
		}
	}
	earlier, now := base.Add(time.Second), base.Add(time.Minute)
	if err := s.RevokeToken(c, store.AccessToken, "a-alice-old", earlier); err != nil {
		t.Fatal(err)
	}

	if n, err := s.RevokeSubjectTokens(c, "", now); err != nil || n != 0 {
		t.Fatalf("RevokeSubjectTokens(\"\") = %d, %v; want 0: an empty subject is nobody", n, err)
	}
	n, err := s.RevokeSubjectTokens(c, "alice", now)
	if err != nil || n != 4 {
		t.Fatalf("RevokeSubjectTokens = %d, %v; want the 4 records of alice not revoked before", n, err)
	}
	if n, err := s.RevokeSubjectTokens(c, "alice", now.Add(time.Second)); err != nil || n != 0 {
		t.Fatalf("revoking again = %d, %v; want 0", n, err)
	}
	if n, err := s.RevokeSubjectTokens(c, "nobody", now); err != nil || n != 0 {
		t.Fatalf("RevokeSubjectTokens of an unknown subject = %d, %v; want 0", n, err)
	}
	for _, r := range records {
		got, err := s.GetToken(c, r.kind, r.id)
		if err != nil {
			t.Fatal(err)
		}
		want := time.Time{}
		switch {
		case r.id == "a-alice-old":
			want = earlier
		case r.subject == "alice":
			want = now
		}
		if !got.RevokedAt.Equal(want) {
			t.Errorf("%s %s (subject %q) revoked at %v; want %v", r.kind, r.id, r.subject, got.RevokedAt, want)
		}
	}

	feed, err := s.RevokedAfter(c, store.RevocationCursor{At: base}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range feed {
		ids = append(ids, r.ID)
	}
	// In (revoked_at, kind, id) order: the earlier revocation first.
	want := []string{"a-alice-old", "a-alice", "c-alice", "r-alice", "s-alice"}
	if !slices.Equal(ids, want) {
		t.Fatalf("RevokedAfter reports %q; want %q", ids, want)
	}
}
