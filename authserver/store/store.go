package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by every backend. Callers test them with
// [errors.Is]; backends may wrap them with context.
var (
	// ErrNotFound means no record has the requested key.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists means a record with the same key exists already.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConsumed means a single-use record was used before.
	ErrConsumed = errors.New("store: already consumed")
	// ErrInactive means a single-use record could not be spent because it
	// was revoked or has expired.
	ErrInactive = errors.New("store: revoked or expired")
	// ErrUnavailable means the backend could not be reached or answered
	// that it cannot serve now (a refused or lost connection, a server
	// shutting down or starting up, a database locked past its timeout):
	// the request may succeed if tried again later, and callers answer
	// "try again later" rather than failing. Backends wrap the driver's
	// error with it; an error that a record is missing or conflicts is
	// never unavailable.
	ErrUnavailable = errors.New("store: unavailable")
)

// Store is everything the authorization server keeps. Backends implement
// it whole; consumers depend on the narrow interfaces it embeds.
type Store interface {
	KeyStore
	TokenStore
	SecretStore
	ClientStore
	UserStore
	FactorStore
	// Sweep deletes records that expired before now and reports how many
	// of each kind went.
	Sweep(ctx context.Context, now time.Time) (SweepResult, error)
	// Ping checks that the backend answers a query, for health checks;
	// it returns an error if it does not before ctx ends.
	Ping(ctx context.Context) error
	// Close releases the backend's connections.
	Close() error
}

// SweepResult counts what one [Store.Sweep] deleted.
type SweepResult struct {
	Tokens int64
	Keys   int64
}

// KeyStore keeps the signing keys shared by every instance.
type KeyStore interface {
	// ListKeys returns every stored key, ordered by SignFrom ascending.
	ListKeys(ctx context.Context) ([]SigningKey, error)
	// UpdateKeys runs update on the current key set inside one
	// transaction that excludes every other UpdateKeys, and stores the set
	// it returns in place of the old one. If update returns an error,
	// nothing changes and that error is returned. This makes rotation a
	// compare-and-swap: the instance that comes second sees the first
	// one's keys and has nothing left to do.
	UpdateKeys(ctx context.Context, update func(current []SigningKey) ([]SigningKey, error)) error
}

// SigningKey is one asymmetric key pair and the window in which it signs
// and verifies.
type SigningKey struct {
	// ID is the key's kid.
	ID string
	// Algorithm is the JWS algorithm, such as ES256.
	Algorithm string
	// PrivateJWK is the private key as a JSON Web Key.
	PrivateJWK []byte
	// CreatedAt is when the key was generated.
	CreatedAt time.Time
	// SignFrom is when the key starts signing. A key whose SignFrom is in
	// the future is published but not yet used.
	SignFrom time.Time
	// SignUntil is when the key stops signing.
	SignUntil time.Time
	// VerifyUntil is when the key leaves the published key set; it is at
	// least SignUntil plus the longest token lifetime.
	VerifyUntil time.Time
}

// TokenKind names a kind of record in the token table.
type TokenKind string

// Kinds of token records. Each kind's ID is described on the constant.
const (
	// AccessToken records are keyed by the JWT's jti.
	AccessToken TokenKind = "access_token"
	// RefreshToken records are keyed by the SHA-256 of the token.
	RefreshToken TokenKind = "refresh_token"
	// AuthorizationCode records are keyed by the SHA-256 of the code.
	AuthorizationCode TokenKind = "authorization_code"
	// Session records are login sessions, keyed by the SHA-256 of the
	// session secret the browser's cookie carries.
	Session TokenKind = "session"
	// Consent records remember that a user approved scopes for a client,
	// keyed by the SHA-256 of client and subject.
	Consent TokenKind = "consent"
	// AuthorizeRequest records hold a validated authorization request
	// while the user signs in and consents, keyed by the SHA-256 of the
	// handle the pages carry.
	AuthorizeRequest TokenKind = "authorize_request"
	// PushedRequest records are pushed authorization requests (RFC 9126),
	// keyed by the SHA-256 of the request_uri's random part.
	PushedRequest TokenKind = "pushed_request"
	// DeviceCode records are device authorizations (RFC 8628), keyed by
	// the SHA-256 of the device code.
	DeviceCode TokenKind = "device_code"
	// UserCode records map the SHA-256 of a normalized user code to its
	// device code record, for the verification page.
	UserCode TokenKind = "user_code"
	// InitialAccessToken records are single-use registration tokens an
	// operator issued (RFC 7591 §3), keyed by the token's SHA-256.
	InitialAccessToken TokenKind = "initial_access_token"
	// GatewaySession records are the gateway's sign-in sessions, keyed by
	// a random session ID; their family is the login session they came
	// from ("sid:" and its sid), so signing out there ends them.
	GatewaySession TokenKind = "gateway_session"
)

// Token is one issued credential or single-use grant artefact. The
// fields every kind shares are columns; what is specific to a kind
// travels in Data, which the store keeps verbatim.
type Token struct {
	Kind TokenKind
	// ID is the record's key: a jti, or the hash of a secret value.
	// Secrets themselves are never stored.
	ID string
	// FamilyID groups the records issued from one grant so that they can
	// be revoked together; empty when the token stands alone.
	FamilyID string
	ClientID string
	// Subject is the user or, for client credentials, the client.
	Subject   string
	Data      []byte
	IssuedAt  time.Time
	ExpiresAt time.Time
	// ConsumedAt is set once a single-use record was used.
	ConsumedAt time.Time
	// RevokedAt is set once the record was revoked.
	RevokedAt time.Time
}

// Active reports whether t is neither expired, revoked nor consumed at now.
func (t Token) Active(now time.Time) bool {
	return t.RevokedAt.IsZero() && t.ConsumedAt.IsZero() && now.Before(t.ExpiresAt)
}

// Revocation says that a record, or a whole family, was revoked.
type Revocation struct {
	Kind      TokenKind
	ID        string
	FamilyID  string
	RevokedAt time.Time
}

// RevocationCursor is a position in the list of revocations: records
// revoked at At, then ordered by kind and ID. A cursor with only At set
// starts at that instant.
type RevocationCursor struct {
	At   time.Time
	Kind TokenKind
	ID   string
}

// Spend names the single-use record an IssueTokens call consumes, and
// when.
type Spend struct {
	Kind TokenKind
	ID   string
	At   time.Time
}

// TokenStore keeps issued tokens and single-use artefacts.
type TokenStore interface {
	// CreateToken stores t; ErrAlreadyExists if its kind and ID are taken.
	// A token whose family was revoked is stored revoked, atomically with
	// respect to RevokeFamily.
	CreateToken(ctx context.Context, t Token) error
	// IssueTokens stores tokens as CreateToken does, all in one
	// transaction: either every one is stored or none is. With spend, the
	// record it names is consumed in that same transaction, and only if it
	// is unconsumed, unrevoked and unexpired at spend.At; otherwise nothing
	// changes and the error is ErrConsumed or ErrInactive (with the
	// record, so the caller can apply its replay rule) or ErrNotFound. Of
	// concurrent calls spending one record, at most one succeeds. It
	// returns the spent record, as consumed.
	IssueTokens(ctx context.Context, spend *Spend, tokens []Token) (Token, error)
	// GetToken returns the record; ErrNotFound if there is none.
	GetToken(ctx context.Context, kind TokenKind, id string) (Token, error)
	// ConsumeToken marks the record used at now, atomically: of any
	// number of concurrent calls for one record, exactly one succeeds. A
	// later call returns the record with ErrConsumed, so the caller can
	// apply its replay rule. An unknown record is ErrNotFound.
	ConsumeToken(ctx context.Context, kind TokenKind, id string, now time.Time) (Token, error)
	// UpdateToken runs update on the record inside a transaction that
	// excludes concurrent updates of it and stores the result. The kind
	// and ID cannot change. An error from update aborts and is returned.
	UpdateToken(ctx context.Context, kind TokenKind, id string, update func(Token) (Token, error)) (Token, error)
	// RevokeToken marks the record revoked at now (keeping an earlier
	// revocation time); ErrNotFound if there is none.
	RevokeToken(ctx context.Context, kind TokenKind, id string, now time.Time) error
	// RevokeFamily marks every record of the family revoked at now and
	// returns how many were not revoked before.
	RevokeFamily(ctx context.Context, familyID string, now time.Time) (int64, error)
	// RevokeClientTokens marks every record of the client revoked at now
	// and returns how many were not revoked before.
	RevokeClientTokens(ctx context.Context, clientID string, now time.Time) (int64, error)
	// ListSubjectTokens returns the subject's records of the kind, active
	// and inactive (expired, revoked or consumed: the caller tells them
	// apart with Active), ordered by IssuedAt, then ID (byte-wise,
	// whatever the database's collation). An empty subject matches
	// nothing.
	ListSubjectTokens(ctx context.Context, subject string, kind TokenKind) ([]Token, error)
	// RevokedAfter lists revoked records in (revoked_at, kind, id) order,
	// starting strictly after the cursor, at most limit of them, for caches
	// that must learn of revocations made elsewhere. Paging by cursor never
	// stalls on many records revoked at the same instant.
	RevokedAfter(ctx context.Context, after RevocationCursor, limit int) ([]Revocation, error)
}

// SecretStore keeps named random secrets that every instance must share,
// such as cookie keys.
type SecretStore interface {
	// GetOrCreateSecret returns the secret stored under name. If there is
	// none, it stores generate's result, unless a concurrent caller stored
	// one first, and returns whichever was stored.
	GetOrCreateSecret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error)
}

// RegisteredClient is a client that registered itself (RFC 7591). Its
// metadata is kept as the JSON the authorization server validated;
// secrets are kept only as hashes.
type RegisteredClient struct {
	ID string
	// Metadata is the registered client metadata as JSON.
	Metadata []byte
	// SecretHash is the hex SHA-256 of the client secret; empty for a
	// public client.
	SecretHash string
	// RegistrationTokenHash is the hex SHA-256 of the registration access
	// token (RFC 7592).
	RegistrationTokenHash string
	CreatedAt             time.Time
	UpdatedAt             time.Time
}

// ClientStore keeps registered clients.
type ClientStore interface {
	// CreateClient stores c; ErrAlreadyExists if its ID is taken.
	CreateClient(ctx context.Context, c RegisteredClient) error
	// GetClient returns the client; ErrNotFound if there is none.
	GetClient(ctx context.Context, id string) (RegisteredClient, error)
	// UpdateClient runs update on the client inside a transaction that
	// excludes concurrent updates of it and stores the result; the ID
	// cannot change. An error from update aborts and is returned.
	UpdateClient(ctx context.Context, id string, update func(RegisteredClient) (RegisteredClient, error)) (RegisteredClient, error)
	// DeleteClient removes the client; ErrNotFound if there is none.
	DeleteClient(ctx context.Context, id string) error
	// ListClients returns every registered client, oldest first (by
	// CreatedAt, then ID), for operators.
	ListClients(ctx context.Context) ([]RegisteredClient, error)
}

// UserRecord is a user kept in the store: one created at runtime (from the
// CLI or the admin API, with a password) or one who first signed in
// through an upstream identity provider (with no password). Users from
// configuration are not stored.
type UserRecord struct {
	// ID is the user's stable identifier and the subject (sub) of its
	// tokens: for a local user its username, for a federated user a
	// random ID that does not change when the provider's email does.
	ID string
	// Username is unique among stored users (compared exactly).
	Username string
	// Provider names the identity provider a federated user signs in
	// through, and ProviderSubject is that provider's identifier of the
	// user; both are empty for a local user. The pair is unique.
	Provider        string
	ProviderSubject string
	// PasswordHash is a local user's argon2id or bcrypt hash; empty for a
	// federated user.
	PasswordHash  string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
	// Disabled users cannot sign in.
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
	// LastLogin is when the user last signed in; zero if never.
	LastLogin time.Time
}

// UserStore keeps users created at runtime and federated users.
type UserStore interface {
	// CreateUser stores u; ErrAlreadyExists if its ID, its Username, or
	// (for a federated user) its Provider and ProviderSubject are taken.
	CreateUser(ctx context.Context, u UserRecord) error
	// GetUser returns the user with the ID; ErrNotFound if there is none.
	GetUser(ctx context.Context, id string) (UserRecord, error)
	// GetUserByUsername returns the user with the username; ErrNotFound
	// if there is none.
	GetUserByUsername(ctx context.Context, username string) (UserRecord, error)
	// GetUserByProvider returns the federated user a provider knows by
	// subject; ErrNotFound if there is none. An empty provider finds no
	// one: local users are not found this way.
	GetUserByProvider(ctx context.Context, provider, subject string) (UserRecord, error)
	// UpdateUser runs update on the user inside a transaction that
	// excludes concurrent updates of it and stores the result; the ID
	// cannot change, and a Username taken by another user is
	// ErrAlreadyExists. An error from update aborts and is returned.
	UpdateUser(ctx context.Context, id string, update func(UserRecord) (UserRecord, error)) (UserRecord, error)
	// DeleteUser removes the user; ErrNotFound if there is none.
	DeleteUser(ctx context.Context, id string) error
	// ListUsers returns every stored user, ordered by Username (byte-wise,
	// whatever the database's collation).
	ListUsers(ctx context.Context) ([]UserRecord, error)
	// RevokeSubjectTokens marks every record whose Subject is subject
	// (sessions, refresh tokens, access tokens, codes) revoked at now and
	// returns how many were not revoked before: what disabling or
	// deleting a user does. The records then show in RevokedAfter. An
	// empty subject matches nothing.
	RevokeSubjectTokens(ctx context.Context, subject string, now time.Time) (int64, error)
}

// FactorKind is the kind of a user's second factor (or passkey).
type FactorKind string

// Factor kinds.
const (
	// FactorTOTP is a time-based one-time password app (RFC 6238). A user
	// has at most one.
	FactorTOTP FactorKind = "totp"
	// FactorWebAuthn is a WebAuthn authenticator or passkey. A user may
	// have several.
	FactorWebAuthn FactorKind = "webauthn"
	// FactorRecoveryCodes is a user's set of single-use recovery codes.
	// A user has at most one set.
	FactorRecoveryCodes FactorKind = "recovery"
)

// Factor is one of a user's second factors. What it holds is the
// authorization server's: Data is opaque to the store (an encrypted TOTP
// secret, a WebAuthn credential, the hashes of recovery codes).
type Factor struct {
	// UserID is the ID of the user it belongs to.
	UserID string
	Kind   FactorKind
	// ID is unique among the user's factors of the kind: "totp" and
	// "recovery" for the one of their kind, the credential ID (base64url)
	// for a WebAuthn credential.
	ID string
	// Name is what the user called it ("YubiKey 5", "Phone").
	Name string
	// Data is the kind's own state.
	Data []byte
	// Confirmed is false until the user proved the factor works (a TOTP
	// app's first code): an unconfirmed factor does not count.
	Confirmed bool
	CreatedAt time.Time
	// LastUsed is when the factor last signed the user in; zero if never.
	LastUsed time.Time
}

// FactorStore keeps users' second factors.
type FactorStore interface {
	// CreateFactor stores f; ErrAlreadyExists if the user has a factor of
	// that kind and ID.
	CreateFactor(ctx context.Context, f Factor) error
	// GetFactor returns one factor; ErrNotFound if there is none.
	GetFactor(ctx context.Context, userID string, kind FactorKind, id string) (Factor, error)
	// ListFactors returns the user's factors, ordered by kind, then
	// CreatedAt, then ID (kinds and IDs byte-wise, whatever the
	// database's collation).
	ListFactors(ctx context.Context, userID string) ([]Factor, error)
	// FindFactors returns the factors of a kind with an ID across all
	// users (a WebAuthn credential ID names one credential, whoever
	// holds it: a passkey sign-in starts from it), ordered by UserID
	// (byte-wise, whatever the database's collation).
	FindFactors(ctx context.Context, kind FactorKind, id string) ([]Factor, error)
	// UpdateFactor runs update on the factor inside a transaction that
	// excludes concurrent updates of it (so a TOTP step or a recovery
	// code is spent once, whatever races) and stores the result; UserID,
	// Kind and ID cannot change. An error from update aborts and is
	// returned. ErrNotFound if there is none.
	UpdateFactor(ctx context.Context, userID string, kind FactorKind, id string, update func(Factor) (Factor, error)) (Factor, error)
	// DeleteFactor removes one factor; ErrNotFound if there is none.
	DeleteFactor(ctx context.Context, userID string, kind FactorKind, id string) error
	// DeleteUserFactors removes every factor of the user (when the user
	// is deleted) and returns how many went.
	DeleteUserFactors(ctx context.Context, userID string) (int64, error)
}
