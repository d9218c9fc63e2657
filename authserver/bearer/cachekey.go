package bearer

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// maxKeyedJWT bounds the JWTs CacheKey decodes; longer tokens are keyed
// by their bytes.
const maxKeyedJWT = 3072

// CacheKey is the key under which a verified token may be cached. A JWT
// has more than one base64url spelling of the same bytes (the unused low
// bits of a segment's last character), and its signature verifies under
// each; keyed by the decoded segments, every spelling of a token is one
// entry, so a revocation that evicts it evicts them all, and a caller
// cannot fill a cache with spellings of one token. Anything else is keyed
// by its SHA-256.
func CacheKey(token string) [sha256.Size]byte {
	if strings.Count(token, ".") != 2 || len(token) > maxKeyedJWT {
		return sha256.Sum256([]byte(token))
	}
	// The decoded segments, each after its length, on the stack.
	var out [maxKeyedJWT]byte
	var scratch [2048]byte
	buf := out[:0]
	rest := token
	for range 3 {
		seg, tail, _ := strings.Cut(rest, ".")
		rest = tail
		src := append(scratch[:0], seg...)
		n := len(buf)
		buf = binary.BigEndian.AppendUint32(buf, 0)
		dec, err := base64.RawURLEncoding.AppendDecode(buf, src)
		if err != nil {
			return sha256.Sum256([]byte(token))
		}
		binary.BigEndian.PutUint32(buf[n:], uint32(len(dec)-n-4))
		buf = dec
	}
	return sha256.Sum256(buf)
}
