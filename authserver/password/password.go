package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Hash is a parsed password hash.
type Hash struct {
	bcrypt []byte
	argon  *argon2Params
}

type argon2Params struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// Parse reads a bcrypt hash ($2a$, $2b$ or $2y$) or an argon2id PHC string.
func Parse(encoded string) (Hash, error) {
	switch {
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		if _, err := bcrypt.Cost([]byte(encoded)); err != nil {
			return Hash{}, fmt.Errorf("parsing bcrypt hash: %w", err)
		}
		return Hash{bcrypt: []byte(encoded)}, nil
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, err := parseArgon2id(encoded)
		if err != nil {
			return Hash{}, fmt.Errorf("parsing argon2id hash: %w", err)
		}
		return Hash{argon: p}, nil
	default:
		return Hash{}, errors.New("not a bcrypt or argon2id hash")
	}
}

func parseArgon2id(encoded string) (*argon2Params, error) {
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 {
		return nil, errors.New("want $argon2id$v=19$m=M,t=T,p=P$SALT$HASH")
	}
	if parts[2] != "v=19" {
		return nil, fmt.Errorf("unsupported version %q", parts[2])
	}
	var p argon2Params
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil {
		return nil, fmt.Errorf("reading parameters %q: %w", parts[3], err)
	}
	if p.time < 1 || p.time > 64 || threads < 1 || threads > 255 || p.memory < 8*threads || p.memory > 4<<20 {
		return nil, fmt.Errorf("parameters %q out of range", parts[3])
	}
	p.threads = uint8(threads)
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return nil, errors.New("bad salt")
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 128 {
		return nil, errors.New("bad hash")
	}
	return &p, nil
}

// Verify reports whether password matches the hash. It takes as long as
// the hash's cost, whatever the answer.
func (h Hash) Verify(password string) bool {
	switch {
	case h.bcrypt != nil:
		return bcrypt.CompareHashAndPassword(h.bcrypt, []byte(password)) == nil
	case h.argon != nil:
		p := h.argon
		got := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
		return subtle.ConstantTimeCompare(got, p.key) == 1
	default:
		return false
	}
}

// IsZero reports whether h holds no hash.
func (h Hash) IsZero() bool { return h.bcrypt == nil && h.argon == nil }

// Parameters of the argon2id hashes this package makes: OWASP's
// recommended minimum (19 MiB, two passes, one lane), a 16-byte salt and
// a 32-byte key.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// HashArgon2id hashes a password with argon2id and a random salt, as a
// PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$key) that [Parse] reads.
func HashArgon2id(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("making a salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Decoy returns the hash of a random password, made as [HashArgon2id]
// makes users' hashes: checking a password against it costs what checking
// a user's does, so that an unknown username takes as long as a known one.
func Decoy() (Hash, error) {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return Hash{}, fmt.Errorf("making a decoy password: %w", err)
	}
	encoded, err := HashArgon2id(base64.RawStdEncoding.EncodeToString(secret))
	if err != nil {
		return Hash{}, err
	}
	return Parse(encoded)
}
