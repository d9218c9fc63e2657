package authserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/authgate/authgate/authserver/store"
)

// Recovery codes let a user who lost their authenticator app sign in:
// ten single-use codes, shown once when made. The store keeps only their
// SHA-256 with a salt of the set: each code has about 49 random bits,
// which no one guesses online, so a slow hash would add little.

const (
	// recoveryAlphabet has no look-alikes (0/o, 1/l/i) and is one case.
	recoveryAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"
	// recoveryCodeLength is a code's characters, shown as two halves.
	recoveryCodeLength = 10
	// recoveryCodeCount is how many codes a set has.
	recoveryCodeCount = 10
	// recoveryFactorID is the ID of a user's one set.
	recoveryFactorID = "recovery"
)

// recoveryData is a recovery code set's Data.
type recoveryData struct {
	Salt  []byte         `json:"salt"`
	Codes []recoveryCode `json:"codes"`
}

// recoveryCode is one code of a set: its hash, and when it was used.
type recoveryCode struct {
	Hash []byte `json:"h"`
	// Used is when the code was spent (Unix seconds); zero until then.
	Used int64 `json:"used,omitempty"`
}

// left counts the codes not used yet.
func (d recoveryData) left() int {
	n := 0
	for _, c := range d.Codes {
		if c.Used == 0 {
			n++
		}
	}
	return n
}

func recoveryHash(salt []byte, code string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(code))
	return h.Sum(nil)
}

// newRecoveryCode returns a random code of recoveryCodeLength characters.
func newRecoveryCode() string {
	out := make([]byte, 0, recoveryCodeLength)
	var b [1]byte
	for len(out) < recoveryCodeLength {
		rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails
		// 256 is not a multiple of the alphabet's 31: the biased tail
		// is drawn again.
		if int(b[0]) >= 256/len(recoveryAlphabet)*len(recoveryAlphabet) {
			continue
		}
		out = append(out, recoveryAlphabet[int(b[0])%len(recoveryAlphabet)])
	}
	return string(out)
}

// displayRecoveryCode shows a code as xxxxx-xxxxx.
func displayRecoveryCode(c string) string {
	return c[:recoveryCodeLength/2] + "-" + c[recoveryCodeLength/2:]
}

// normalizeRecoveryCode lowercases a typed code and drops dashes and
// spaces; ok is false if what remains cannot be a recovery code.
func normalizeRecoveryCode(typed string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(typed) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case strings.ContainsRune(recoveryAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
		if b.Len() > recoveryCodeLength {
			return "", false
		}
	}
	return b.String(), b.Len() == recoveryCodeLength
}

// NewRecoveryCodes makes the user a new set of ten recovery codes,
// replacing any set they had, and returns them as xxxxx-xxxxx for the
// user to save: they are shown this once and kept only as hashes.
// ErrUserNotFound if there is no such user.
func (s *Server) NewRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	u, err := s.users.get(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("making recovery codes: %w", err)
	}
	if u == nil {
		return nil, fmt.Errorf("making recovery codes for %q: %w", userID, ErrUserNotFound)
	}
	d := recoveryData{Salt: make([]byte, 16)}
	rand.Read(d.Salt) //nolint:errcheck // crypto/rand.Read never fails
	codes := make([]string, 0, recoveryCodeCount)
	for len(codes) < recoveryCodeCount {
		c := newRecoveryCode()
		codes = append(codes, displayRecoveryCode(c))
		d.Codes = append(d.Codes, recoveryCode{Hash: recoveryHash(d.Salt, c)})
	}
	data, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("making recovery codes: %w", err)
	}
	now := s.now()
	err = s.cfg.Store.CreateFactor(ctx, store.Factor{
		UserID: u.ID, Kind: store.FactorRecoveryCodes, ID: recoveryFactorID, Name: "Recovery codes",
		Data: data, Confirmed: true, CreatedAt: now,
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		_, err = s.cfg.Store.UpdateFactor(ctx, u.ID, store.FactorRecoveryCodes, recoveryFactorID, func(f store.Factor) (store.Factor, error) {
			f.Data, f.Confirmed, f.CreatedAt, f.LastUsed = data, true, now, time.Time{}
			return f, nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("storing recovery codes of user %q: %w", u.Username, err)
	}
	s.emitCtx(ctx, Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangeRecoveryCodes, Username: u.Username, Subject: u.ID})
	return codes, nil
}

// RecoveryCodesLeft counts the user's recovery codes not used yet: 0
// when they have none.
func (s *Server) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	f, err := s.cfg.Store.GetFactor(ctx, userID, store.FactorRecoveryCodes, recoveryFactorID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("looking up recovery codes: %w", err)
	}
	var d recoveryData
	if err := json.Unmarshal(f.Data, &d); err != nil {
		return 0, fmt.Errorf("reading recovery codes: %w", err)
	}
	return d.left(), nil
}

// useRecoveryCode spends one of the user's recovery codes, inside
// UpdateFactor so that a code works once whatever races, and returns how
// many are left. ErrWrongCode for a code that is not one of theirs,
// errCodeUsed for one spent before, ErrNoFactor if they have none. The
// use is logged, without the code.
func (s *Server) useRecoveryCode(ctx context.Context, u *User, typed string) (int, error) {
	code, ok := normalizeRecoveryCode(typed)
	if !ok {
		return 0, ErrWrongCode
	}
	now := s.now()
	left := 0
	_, err := s.cfg.Store.UpdateFactor(ctx, u.ID, store.FactorRecoveryCodes, recoveryFactorID, func(f store.Factor) (store.Factor, error) {
		var d recoveryData
		if err := json.Unmarshal(f.Data, &d); err != nil {
			return f, fmt.Errorf("reading recovery codes: %w", err)
		}
		h := recoveryHash(d.Salt, code)
		found := -1
		for i, c := range d.Codes {
			if subtle.ConstantTimeCompare(h, c.Hash) == 1 {
				found = i
			}
		}
		switch {
		case found < 0:
			return f, ErrWrongCode
		case d.Codes[found].Used != 0:
			return f, errCodeUsed
		}
		d.Codes[found].Used = now.Unix()
		left = d.left()
		var err error
		if f.Data, err = json.Marshal(d); err != nil {
			return f, fmt.Errorf("recording the recovery code's use: %w", err)
		}
		f.LastUsed = now
		return f, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return 0, ErrNoFactor
	}
	if err != nil {
		return 0, err
	}
	s.logger.Info("recovery code used", zapUser(u.Username), zap.Int("recovery_codes_left", left))
	return left, nil
}
