package authserver

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/authgate/authgate/authserver/store"
)

// TOTP second factors (RFC 6238): an authenticator app holds a secret it
// shares with the server and shows a 6-digit code for every 30-second
// step. The secret is kept encrypted with AES-256-GCM under a key every
// instance shares through the store; the factor's Data also records the
// last step whose code was accepted, updated inside UpdateFactor, so that
// no code is accepted twice, on any instance.

// TOTP parameters: RFC 6238's defaults, the ones every authenticator app
// understands.
const (
	totpPeriod     = 30
	totpDigits     = otp.DigitsSix
	totpSecretSize = 20 // bytes: RFC 4226 §4's recommended 160 bits
	// totpSkew is how many steps before or after the current one are
	// accepted, for a phone whose clock is a little off.
	totpSkew = 1
	// totpFactorID is the ID of a user's one TOTP factor.
	totpFactorID = "totp"
	// totpFactorName is what the factor is called until the user names it.
	totpFactorName = "Authenticator app"
)

// secretTOTPKey names the store secret that encrypts TOTP secrets.
const secretTOTPKey = "totp-key"

// Errors of the second-factor API.
var (
	// ErrWrongCode means a TOTP or recovery code is not right, or was
	// already used.
	ErrWrongCode = errors.New("the code is wrong")
	// errCodeUsed is a right code that was used already: a TOTP step or a
	// recovery code spent before.
	errCodeUsed = fmt.Errorf("%w: it was already used", ErrWrongCode)
	// errTooManyCodes refuses every code, right or not, once a user gave
	// too many wrong ones within the window.
	errTooManyCodes = fmt.Errorf("%w: too many wrong codes, try again later", ErrWrongCode)
	// ErrFactorExists means the user already has a confirmed factor of the
	// kind: remove it before setting up another.
	ErrFactorExists = errors.New("the user already has this second factor")
	// ErrNoFactor means the user has no such factor (or, for ConfirmTOTP,
	// none waiting to be confirmed).
	ErrNoFactor = errors.New("the user has no such second factor")
)

// totpData is a TOTP factor's Data.
type totpData struct {
	// Secret is the AES-GCM nonce followed by the sealed secret.
	Secret []byte `json:"secret"`
	// LastStep is the last time step (Unix time / 30) whose code was
	// accepted; codes of it and of earlier steps are refused.
	LastStep int64 `json:"last_step,omitempty"`
}

var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// loadTOTPKey returns the AEAD that seals TOTP secrets, with the 32-byte
// key kept in the store (made on first use).
func loadTOTPKey(ctx context.Context, secrets store.SecretStore) (cipher.AEAD, error) {
	key, err := secrets.GetOrCreateSecret(ctx, secretTOTPKey, func() ([]byte, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return b, nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading the TOTP encryption key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("the stored TOTP encryption key has %d bytes, not 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("the TOTP encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("the TOTP encryption key: %w", err)
	}
	return aead, nil
}

// totpAAD binds a sealed secret to its user: a secret copied to another
// user's row does not open.
func totpAAD(userID string) []byte { return []byte("authgate totp v1\x00" + userID) }

// sealTOTP encrypts a user's TOTP secret.
func (s *Server) sealTOTP(userID string, secret []byte) []byte {
	nonce := make([]byte, s.totpKey.NonceSize())
	rand.Read(nonce) //nolint:errcheck // crypto/rand.Read never fails
	return s.totpKey.Seal(nonce, nonce, secret, totpAAD(userID))
}

// openTOTP decrypts a user's TOTP secret.
func (s *Server) openTOTP(userID string, sealed []byte) ([]byte, error) {
	n := s.totpKey.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("the stored TOTP secret is damaged")
	}
	secret, err := s.totpKey.Open(nil, sealed[:n], sealed[n:], totpAAD(userID))
	if err != nil {
		return nil, errors.New("the stored TOTP secret does not decrypt (damaged, or sealed with another key)")
	}
	return secret, nil
}

// BeginTOTP starts setting up a TOTP app for the user: it makes a new
// secret and stores it as an unconfirmed factor, replacing one not yet
// confirmed, and returns the secret (base32, for typing into the app)
// and its otpauth:// URL (for a QR code, see TOTPQRCode). The factor
// counts once ConfirmTOTP has seen a code from the app. ErrFactorExists
// if the user has a confirmed TOTP app already; ErrUserNotFound if there
// is no such user.
func (s *Server) BeginTOTP(ctx context.Context, userID string) (secret, otpauthURL string, err error) {
	u, err := s.users.get(ctx, userID)
	if err != nil {
		return "", "", fmt.Errorf("setting up TOTP: %w", err)
	}
	if u == nil {
		return "", "", fmt.Errorf("setting up TOTP for %q: %w", userID, ErrUserNotFound)
	}
	raw := make([]byte, totpSecretSize)
	rand.Read(raw) //nolint:errcheck // crypto/rand.Read never fails
	data, err := json.Marshal(totpData{Secret: s.sealTOTP(u.ID, raw)})
	if err != nil {
		return "", "", fmt.Errorf("setting up TOTP: %w", err)
	}
	now := s.now()
	err = s.cfg.Store.CreateFactor(ctx, store.Factor{
		UserID: u.ID, Kind: store.FactorTOTP, ID: totpFactorID, Name: totpFactorName, Data: data, CreatedAt: now,
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		_, err = s.cfg.Store.UpdateFactor(ctx, u.ID, store.FactorTOTP, totpFactorID, func(f store.Factor) (store.Factor, error) {
			if f.Confirmed {
				return f, ErrFactorExists
			}
			f.Data, f.CreatedAt, f.LastUsed = data, now, time.Time{}
			return f, nil
		})
	}
	if err != nil {
		return "", "", fmt.Errorf("setting up TOTP for user %q: %w", u.Username, err)
	}
	secret = base32NoPad.EncodeToString(raw)
	otpauthURL, err = s.otpauthURL(u, raw)
	if err != nil {
		return "", "", err
	}
	s.logger.Info("TOTP setup started", zapUser(u.Username))
	return secret, otpauthURL, nil
}

// pendingTOTP returns the secret and otpauth URL of the user's TOTP
// factor waiting to be confirmed; ok is false if there is none.
func (s *Server) pendingTOTP(ctx context.Context, u *User) (secret, otpauthURL string, ok bool, err error) {
	f, err := s.cfg.Store.GetFactor(ctx, u.ID, store.FactorTOTP, totpFactorID)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("looking up the TOTP factor: %w", err)
	}
	if f.Confirmed {
		return "", "", false, nil
	}
	var d totpData
	if err := json.Unmarshal(f.Data, &d); err != nil {
		return "", "", false, fmt.Errorf("reading the TOTP factor: %w", err)
	}
	raw, err := s.openTOTP(u.ID, d.Secret)
	if err != nil {
		return "", "", false, err
	}
	otpauthURL, err = s.otpauthURL(u, raw)
	if err != nil {
		return "", "", false, err
	}
	return base32NoPad.EncodeToString(raw), otpauthURL, true, nil
}

// otpauthURL is the Key URI an authenticator app reads: the product's
// name as issuer, the username as account (colons, which the format
// reserves, kept out of both).
func (s *Server) otpauthURL(u *User, secret []byte) (string, error) {
	account := u.Username
	if provider, name, federated := strings.Cut(account, ":"); federated {
		account = name + " (" + provider + ")"
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: strings.ReplaceAll(s.cfg.ProductName, ":", " "), AccountName: strings.ReplaceAll(account, ":", " "),
		Period: totpPeriod, Secret: secret, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", fmt.Errorf("making the otpauth URL: %w", err)
	}
	return key.URL(), nil
}

// ConfirmTOTP turns on the user's TOTP app once it showed a right code:
// the factor BeginTOTP stored counts from now on. ErrWrongCode for a
// wrong code (the factor stays unconfirmed: try again); ErrNoFactor if
// no TOTP app is waiting; ErrFactorExists if it is confirmed already.
func (s *Server) ConfirmTOTP(ctx context.Context, userID, code string) error {
	now := s.now()
	// Confirming counts against the same limit as signing in with a
	// code: no one guesses a waiting key's codes faster than a set one's.
	if _, ok := s.factorLimits.attempt(userID, now); !ok {
		return fmt.Errorf("confirming TOTP: %w", errTooManyCodes)
	}
	_, err := s.cfg.Store.UpdateFactor(ctx, userID, store.FactorTOTP, totpFactorID, func(f store.Factor) (store.Factor, error) {
		if f.Confirmed {
			return f, ErrFactorExists
		}
		if err := s.spendTOTP(&f, code, now); err != nil {
			return f, err
		}
		f.Confirmed = true
		return f, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("confirming TOTP: %w", ErrNoFactor)
	case err != nil:
		return fmt.Errorf("confirming TOTP: %w", err)
	}
	s.factorLimits.reset(userID)
	s.emitCtx(ctx, Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangeTOTPAdded, Subject: userID})
	return nil
}

// useTOTP checks a code of the user's confirmed TOTP app at sign-in and
// spends its step. ErrWrongCode (errCodeUsed for a step spent before),
// ErrNoFactor without a confirmed app.
func (s *Server) useTOTP(ctx context.Context, userID, code string) error {
	now := s.now()
	_, err := s.cfg.Store.UpdateFactor(ctx, userID, store.FactorTOTP, totpFactorID, func(f store.Factor) (store.Factor, error) {
		if !f.Confirmed {
			return f, ErrNoFactor
		}
		if err := s.spendTOTP(&f, code, now); err != nil {
			return f, err
		}
		f.LastUsed = now
		return f, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoFactor
	}
	return err
}

// spendTOTP checks code against factor f at now, within ±totpSkew steps,
// and records its step as the last one used. A code of the last step
// used or an earlier one is errCodeUsed, even if it is right (RFC 6238
// §5.2).
func (s *Server) spendTOTP(f *store.Factor, code string, now time.Time) error {
	code = strings.Join(strings.Fields(code), "")
	if len(code) != totpDigits.Length() || strings.Trim(code, "0123456789") != "" {
		return ErrWrongCode
	}
	var d totpData
	if err := json.Unmarshal(f.Data, &d); err != nil {
		return fmt.Errorf("reading the TOTP factor: %w", err)
	}
	raw, err := s.openTOTP(f.UserID, d.Secret)
	if err != nil {
		return err
	}
	secret := base32NoPad.EncodeToString(raw)
	current := now.Unix() / totpPeriod
	matched := int64(-1)
	// Every step of the window is checked, so that the time taken does
	// not tell which one matched.
	for step := current - totpSkew; step <= current+totpSkew; step++ {
		ok, err := hotp.ValidateCustom(code, uint64(step), secret, hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return fmt.Errorf("checking a TOTP code: %w", err)
		}
		if ok && step > matched {
			matched = step
		}
	}
	switch {
	case matched < 0:
		return ErrWrongCode
	case matched <= d.LastStep:
		return errCodeUsed
	}
	d.LastStep = matched
	if f.Data, err = json.Marshal(d); err != nil {
		return fmt.Errorf("recording the TOTP step: %w", err)
	}
	return nil
}

// RemoveTOTP removes the user's TOTP app, confirmed or not. When it was
// the user's last second factor, their recovery codes go too: they back
// up a factor, and are no factor of their own. ErrNoFactor if the user
// has no TOTP app.
func (s *Server) RemoveTOTP(ctx context.Context, userID string) error {
	err := s.cfg.Store.DeleteFactor(ctx, userID, store.FactorTOTP, totpFactorID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("removing TOTP: %w", ErrNoFactor)
	case err != nil:
		return fmt.Errorf("removing TOTP: %w", err)
	}
	m, err := s.userFactors(ctx, userID)
	if err != nil {
		return fmt.Errorf("TOTP removed, but checking the other factors failed: %w", err)
	}
	if !m.has() {
		if err := s.cfg.Store.DeleteFactor(ctx, userID, store.FactorRecoveryCodes, recoveryFactorID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("TOTP removed, but removing the recovery codes failed: %w", err)
		}
	}
	s.emitCtx(ctx, Event{Name: EventUserChanged, Outcome: OutcomeSuccess, Method: UserChangeTOTPRemoved, Subject: userID})
	return nil
}

// TOTP QR codes are drawn with github.com/boombuler/barcode, the QR
// encoder github.com/pquerna/otp itself uses (so no other module), at a
// whole number of pixels per module and with the four-module quiet zone
// that scanners need, on white whatever the page's colors.
const (
	qrModulePixels = 6
	qrQuietModules = 4
)

// TOTPQRCode draws an otpauth:// URL (as BeginTOTP returns it) as a QR
// code, a PNG image for the account page to show.
func TOTPQRCode(otpauthURL string) ([]byte, error) {
	u, err := url.Parse(otpauthURL)
	if err != nil || u.Scheme != "otpauth" {
		return nil, errors.New("drawing a QR code: not an otpauth:// URL")
	}
	code, err := qr.Encode(otpauthURL, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("drawing a QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, qrImage(code)); err != nil {
		return nil, fmt.Errorf("drawing a QR code: %w", err)
	}
	return buf.Bytes(), nil
}

// qrImage scales a QR code's modules to qrModulePixels and surrounds it
// with the quiet zone, in black on white.
func qrImage(code barcode.Barcode) image.Image {
	b := code.Bounds()
	side := (b.Dx() + 2*qrQuietModules) * qrModulePixels
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			if l, _, _, _ := color.GrayModel.Convert(code.At(b.Min.X+x, b.Min.Y+y)).RGBA(); l >= 0x8000 {
				continue // a light module
			}
			x0, y0 := (x+qrQuietModules)*qrModulePixels, (y+qrQuietModules)*qrModulePixels
			for dy := range qrModulePixels {
				for dx := range qrModulePixels {
					img.SetColorIndex(x0+dx, y0+dy, 1)
				}
			}
		}
	}
	return img
}

// qrDataURL is a QR code of otpauthURL as a data: URL, for an img on a
// page (the pages' CSP allows data: images).
func qrDataURL(otpauthURL string) (string, error) {
	png, err := TOTPQRCode(otpauthURL)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}
