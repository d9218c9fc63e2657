package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authgate/authgate/authserver/store"
)

// maxClockSkew is how far apart instances' clocks may be when they agree
// on the first signing key.
const maxClockSkew = 5 * time.Minute

// Algorithms lists the JWS algorithms a key can be generated for: every
// algorithm a token of this server can be signed with, and so the one list
// its verifiers accept.
var Algorithms = []string{string(jose.ES256), string(jose.EdDSA), string(jose.RS256)}

// SignatureAlgorithms returns [Algorithms] as go-jose values, for parsing
// what this server signed.
func SignatureAlgorithms() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}

// Config sets the rotation schedule. Zero fields take the defaults given.
type Config struct {
	// Algorithm for new keys: ES256 (default), EdDSA or RS256.
	Algorithm string
	// RotateEvery is how long a key signs. Default 30 days.
	RotateEvery time.Duration
	// Overlap is how long a key keeps verifying after it stops signing: at
	// least the longest lifetime of a token it signed. Default 24 hours.
	Overlap time.Duration
	// Prepublish is how long a key is published before it signs, so that
	// every instance and every verifier's cache has it first. Default a
	// quarter of RotateEvery, at most 24 hours.
	Prepublish time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnRotate, if set, is called with the new signing key when a refresh
	// finds another key signing than at the one before: a scheduled or
	// manual rotation, by this instance or another sharing the store. The
	// first key loaded is no rotation. It is called with the refresh's
	// lock held, so it must not call the Manager.
	OnRotate func(KeyInfo)
}

func (c *Config) setDefaults() error {
	if c.Algorithm == "" {
		c.Algorithm = string(jose.ES256)
	}
	if !validAlgorithm(c.Algorithm) {
		return fmt.Errorf("unsupported signing algorithm %q (want one of %v)", c.Algorithm, Algorithms)
	}
	if c.RotateEvery == 0 {
		c.RotateEvery = 30 * 24 * time.Hour
	}
	if c.RotateEvery < time.Second {
		return fmt.Errorf("key rotation interval %v is shorter than a second", c.RotateEvery)
	}
	if c.Overlap == 0 {
		c.Overlap = 24 * time.Hour
	}
	if c.Prepublish == 0 {
		c.Prepublish = min(c.RotateEvery/4, 24*time.Hour)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

func validAlgorithm(alg string) bool {
	for _, a := range Algorithms {
		if a == alg {
			return true
		}
	}
	return false
}

// Manager keeps the key set cached in memory and in step with the store.
// Its methods are safe for concurrent use.
type Manager struct {
	store store.KeyStore
	cfg   Config

	set       atomic.Pointer[keySet]
	refreshMu sync.Mutex
	// signer is the kid of the key that signed at the last refresh;
	// guarded by refreshMu.
	signer string
	// lastMiss is when an unknown kid last caused a reload (unix nanos).
	lastMiss atomic.Int64
}

// keySet is an immutable snapshot of the stored keys.
type keySet struct {
	keys   []key
	byID   map[string]*key
	public jose.JSONWebKeySet
}

type key struct {
	stored  store.SigningKey
	private jose.JSONWebKey
	public  jose.JSONWebKey
}

// New returns a Manager over ks. Call [Manager.Refresh] before using it.
func New(ks store.KeyStore, cfg Config) (*Manager, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Manager{store: ks, cfg: cfg}, nil
}

// Algorithm returns the algorithm new keys are made for.
func (m *Manager) Algorithm() string { return m.cfg.Algorithm }

// RefreshInterval is how often [Manager.Run] reloads the key set: often
// enough that every instance has a key before it starts signing.
func (m *Manager) RefreshInterval() time.Duration {
	return max(min(time.Minute, m.cfg.Prepublish/4), 100*time.Millisecond)
}

// Refresh reloads the keys from the store, generating or rotating them in
// one store transaction if the schedule says so.
func (m *Manager) Refresh(ctx context.Context) error {
	return m.refresh(ctx, false)
}

// Rotate ends the current key's signing window now: the next key (made
// now if there is none) signs from now on, and the old key keeps
// verifying for the overlap.
func (m *Manager) Rotate(ctx context.Context) error {
	return m.refresh(ctx, true)
}

func (m *Manager) refresh(ctx context.Context, force bool) error {
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	now := m.cfg.Now()
	stored, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	if _, changed, err := plan(stored, now, m.cfg, false); err != nil {
		return err
	} else if changed || force {
		err := m.store.UpdateKeys(ctx, func(current []store.SigningKey) ([]store.SigningKey, error) {
			// The clock is read again under the lock: another instance may
			// have rotated while this one waited.
			next, _, err := plan(current, m.cfg.Now(), m.cfg, force)
			stored = next
			return next, err
		})
		if err != nil {
			return fmt.Errorf("rotating signing keys: %w", err)
		}
	}
	set, err := newKeySet(stored)
	if err != nil {
		return err
	}
	m.set.Store(set)
	if k := set.signingAt(m.cfg.Now()); k != nil && k.stored.ID != m.signer {
		if m.signer != "" && m.cfg.OnRotate != nil {
			m.cfg.OnRotate(k.info())
		}
		m.signer = k.stored.ID
	}
	return nil
}

// Run refreshes the key set every [Manager.RefreshInterval] until ctx is
// done, reporting failures to onError.
func (m *Manager) Run(ctx context.Context, onError func(error)) {
	t := time.NewTicker(m.RefreshInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
				onError(err)
			}
		}
	}
}

// plan computes the key set that should be stored at now. changed says
// whether it differs from keys. With force, the current key stops signing
// now and its successor starts.
func plan(keys []store.SigningKey, now time.Time, cfg Config, force bool) ([]store.SigningKey, bool, error) {
	changed := false
	var out []store.SigningKey
	for _, k := range keys {
		if !now.Before(k.VerifyUntil) {
			changed = true
			continue
		}
		if v := k.SignUntil.Add(cfg.Overlap); v.After(k.VerifyUntil) {
			k.VerifyUntil = v
			changed = true
		}
		out = append(out, k)
	}
	cur := -1
	for i, k := range out {
		if !now.Before(k.SignFrom) && now.Before(k.SignUntil) && (cur < 0 || !k.SignFrom.Before(out[cur].SignFrom)) {
			cur = i
		}
	}
	if cur >= 0 && (force || out[cur].Algorithm != cfg.Algorithm) {
		// End the current key now; drop a pending successor of another
		// algorithm, and start one that fits.
		out[cur].SignUntil = now
		out[cur].VerifyUntil = now.Add(cfg.Overlap)
		kept := out[:0]
		var successor *store.SigningKey
		for _, k := range out {
			if k.SignFrom.After(now) {
				if k.Algorithm != cfg.Algorithm || successor != nil {
					continue
				}
				k.SignFrom, k.SignUntil = now, now.Add(cfg.RotateEvery)
				k.VerifyUntil = k.SignUntil.Add(cfg.Overlap)
				kept = append(kept, k)
				successor = &kept[len(kept)-1]
				continue
			}
			kept = append(kept, k)
		}
		out = kept
		if successor != nil {
			return out, true, nil
		}
		cur = -1
	}
	if cur < 0 {
		// A key another instance made moments ago may start a little in
		// this instance's future (clocks differ): start it now rather than
		// make a second one.
		for i, k := range out {
			if k.Algorithm == cfg.Algorithm && k.SignFrom.After(now) && !k.SignFrom.After(now.Add(maxClockSkew)) {
				out[i].SignFrom = now
				return out, true, nil
			}
		}
		k, err := generate(cfg.Algorithm, now, now, cfg)
		if err != nil {
			return nil, false, err
		}
		return append(out, k), true, nil
	}
	end := out[cur].SignUntil
	for _, k := range out {
		if !k.SignFrom.Before(end) {
			return out, changed, nil // a successor is already published
		}
	}
	if now.Before(end.Add(-cfg.Prepublish)) {
		return out, changed, nil
	}
	k, err := generate(cfg.Algorithm, now, end, cfg)
	if err != nil {
		return nil, false, err
	}
	return append(out, k), true, nil
}

// generate makes a new key pair that signs from signFrom.
func generate(alg string, now, signFrom time.Time, cfg Config) (store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch jose.SignatureAlgorithm(alg) {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		err = fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generating %s key: %w", alg, err)
	}
	jwk := jose.JSONWebKey{Key: priv, Algorithm: alg, Use: "sig"}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("computing key id: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	raw, err := jwk.MarshalJSON()
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encoding key: %w", err)
	}
	until := signFrom.Add(cfg.RotateEvery)
	return store.SigningKey{
		ID: jwk.KeyID, Algorithm: alg, PrivateJWK: raw, CreatedAt: now,
		SignFrom: signFrom, SignUntil: until, VerifyUntil: until.Add(cfg.Overlap),
	}, nil
}

func newKeySet(stored []store.SigningKey) (*keySet, error) {
	s := &keySet{byID: make(map[string]*key, len(stored))}
	s.keys = make([]key, 0, len(stored))
	for _, sk := range stored {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(sk.PrivateJWK); err != nil {
			return nil, fmt.Errorf("decoding signing key %s: %w", sk.ID, err)
		}
		if jwk.IsPublic() || jwk.KeyID != sk.ID || jwk.Algorithm != sk.Algorithm {
			return nil, fmt.Errorf("signing key %s is damaged in the store", sk.ID)
		}
		s.keys = append(s.keys, key{stored: sk, private: jwk, public: jwk.Public()})
	}
	for i := range s.keys {
		s.byID[s.keys[i].stored.ID] = &s.keys[i]
		s.public.Keys = append(s.public.Keys, s.keys[i].public)
	}
	return s, nil
}

// ErrNoSigningKey means the store holds no key that may sign now, which
// happens only if refreshing has failed for longer than the prepublish
// window.
var ErrNoSigningKey = errors.New("keys: no signing key is valid now")

// signing returns the key that signs at now, reloading once if the cached
// set has none.
func (m *Manager) signing(ctx context.Context) (*key, error) {
	now := m.cfg.Now()
	if k := m.set.Load().signingAt(now); k != nil {
		return k, nil
	}
	if err := m.Refresh(ctx); err != nil {
		return nil, err
	}
	if k := m.set.Load().signingAt(now); k != nil {
		return k, nil
	}
	return nil, ErrNoSigningKey
}

// signingAt returns the key of s that signs at now (the latest to start
// of those whose window holds now), or nil; s may be nil.
func (s *keySet) signingAt(now time.Time) *key {
	if s == nil {
		return nil
	}
	var best *key
	for i := range s.keys {
		k := &s.keys[i]
		if !now.Before(k.stored.SignFrom) && now.Before(k.stored.SignUntil) &&
			(best == nil || !k.stored.SignFrom.Before(best.stored.SignFrom)) {
			best = k
		}
	}
	return best
}

// info describes k for operators.
func (k *key) info() KeyInfo {
	return KeyInfo{k.stored.ID, k.stored.Algorithm, k.stored.SignFrom, k.stored.SignUntil, k.stored.VerifyUntil}
}

// Sign signs payload as a compact JWS with the current key, setting the
// typ header to typ (such as "at+jwt") when it is not empty.
func (m *Manager) Sign(ctx context.Context, payload []byte, typ string) (string, error) {
	k, err := m.signing(ctx)
	if err != nil {
		return "", err
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.stored.Algorithm), Key: k.private}, opts)
	if err != nil {
		return "", fmt.Errorf("preparing signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	return jws.CompactSerialize()
}

// VerificationKey returns the public key with the given kid if it is
// published. An unknown kid reloads the set from the store, at most once a
// second, so that a key another instance just made is found.
func (m *Manager) VerificationKey(ctx context.Context, kid string) (jose.JSONWebKey, bool) {
	if s := m.set.Load(); s != nil {
		if k, ok := s.byID[kid]; ok {
			return k.public, true
		}
	}
	now := time.Now().UnixNano()
	last := m.lastMiss.Load()
	if now-last < int64(time.Second) || !m.lastMiss.CompareAndSwap(last, now) {
		return jose.JSONWebKey{}, false
	}
	if err := m.Refresh(ctx); err != nil {
		return jose.JSONWebKey{}, false
	}
	if k, ok := m.set.Load().byID[kid]; ok {
		return k.public, true
	}
	return jose.JSONWebKey{}, false
}

// PublicKeys returns the published key set: the next, current and
// previous keys' public halves.
func (m *Manager) PublicKeys() jose.JSONWebKeySet {
	if s := m.set.Load(); s != nil {
		return s.public
	}
	return jose.JSONWebKeySet{}
}

// KeyInfo describes one key for operators, without key material.
type KeyInfo struct {
	ID          string    `json:"kid"`
	Algorithm   string    `json:"alg"`
	SignFrom    time.Time `json:"sign_from"`
	SignUntil   time.Time `json:"sign_until"`
	VerifyUntil time.Time `json:"verify_until"`
}

// Info lists the cached keys, oldest first.
func (m *Manager) Info() []KeyInfo {
	s := m.set.Load()
	if s == nil {
		return nil
	}
	out := make([]KeyInfo, 0, len(s.keys))
	for i := range s.keys {
		out = append(out, s.keys[i].info())
	}
	return out
}
