package authserver

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestConfirmTOTPLimited: confirming a waiting authenticator app counts
// wrong codes against the user's limit, as signing in with a code does:
// past it even the right code is refused until the window ends.
func TestConfirmTOTPLimited(t *testing.T) {
	e := newMfaEnv(t, nil)
	ctx := context.Background()
	secret, _, err := e.srv.BeginTOTP(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for i := range factorAttempts {
		if err := e.srv.ConfirmTOTP(ctx, "alice", "000000"); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if err := e.srv.ConfirmTOTP(ctx, "alice", e.mfaCode(secret, 0)); !errors.Is(err, errTooManyCodes) {
		t.Fatalf("the right code past the limit: %v; want it refused", err)
	}
	e.clock.Advance(factorWindow + time.Minute)
	if err := e.srv.ConfirmTOTP(ctx, "alice", e.mfaCode(secret, 0)); err != nil {
		t.Fatalf("the right code after the window: %v", err)
	}
}
