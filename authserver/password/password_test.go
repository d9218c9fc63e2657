package password_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/authserver/password"
)

func argon2id(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func TestVerify(t *testing.T) {
	b, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	for name, encoded := range map[string]string{"bcrypt": string(b), "argon2id": argon2id("s3cret")} {
		t.Run(name, func(t *testing.T) {
			h, err := password.Parse(encoded)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !h.Verify("s3cret") {
				t.Error("the right password was refused")
			}
			for _, wrong := range []string{"", "s3cre", "s3cret ", "S3cret"} {
				if h.Verify(wrong) {
					t.Errorf("the wrong password %q was accepted", wrong)
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{
		"", "s3cret", "$2a$", "$2a$99$abc",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFz",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
	} {
		if _, err := password.Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	var zero password.Hash
	if !zero.IsZero() || zero.Verify("") {
		t.Error("the zero Hash accepted a password")
	}
}

// TestHashArgon2id: a made hash verifies its password only, parses, and
// has a fresh salt each time; a decoy verifies nothing.
func TestHashArgon2id(t *testing.T) {
	a, err := password.HashArgon2id("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := password.HashArgon2id("correct horse")
	if a == b {
		t.Error("two hashes of one password are equal: no fresh salt")
	}
	h, err := password.Parse(a)
	if err != nil {
		t.Fatalf("Parse(%q): %v", a, err)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horse ": false, "": false} {
		if got := h.Verify(pw); got != want {
			t.Errorf("Verify(%q) = %v; want %v", pw, got, want)
		}
	}
	d, err := password.Decoy()
	if err != nil || d.IsZero() || d.Verify("") || d.Verify("correct horse") {
		t.Errorf("Decoy: %v", err)
	}
}
