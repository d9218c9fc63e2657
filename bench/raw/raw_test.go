package raw

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/store/postgres"
	"github.com/authgate/authgate/authserver/store/postgres/pgtest"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

// BenchmarkSignInsertSQLite is the raw rate on the embedded store.
func BenchmarkSignInsertSQLite(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "authgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	signInsert(b, st)
}

// BenchmarkSignInsertPostgres is the raw rate on PostgreSQL.
func BenchmarkSignInsertPostgres(b *testing.B) {
	st, err := postgres.Open(context.Background(), pgtest.FreshDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	signInsert(b, st)
}

// signInsert signs an access token's claims with ES256 and inserts its
// record, as the token endpoint does, from many goroutines at once.
func signInsert(b *testing.B, st store.Store) {
	ctx := context.Background()
	km, err := keys.New(st, keys.Config{Algorithm: "ES256"})
	if err != nil {
		b.Fatal(err)
	}
	if err := km.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	// 32 goroutines per CPU: 64 on two, as many as the benchmark's wrk
	// connections, so the store sees the same concurrency.
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now()
			claims := authserver.AccessTokenClaims{
				Issuer: "http://127.0.0.1:9000", Subject: "bench-service", Audience: []string{"http://127.0.0.1:9000"},
				ClientID: "bench-service", Scope: "read", IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix(), ID: jti(),
			}
			payload, err := json.Marshal(claims)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := km.Sign(ctx, payload, "at+jwt"); err != nil {
				b.Fatal(err)
			}
			err = st.CreateToken(ctx, store.Token{
				Kind: store.AccessToken, ID: claims.ID, ClientID: claims.ClientID, Subject: claims.Subject,
				Data: []byte(`{"scope":"read","aud":["http://127.0.0.1:9000"]}`), IssuedAt: now, ExpiresAt: now.Add(time.Hour),
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// jti returns a fresh token ID, as the server makes them.
func jti() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
