package authserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/authserver/keys"
	"github.com/authgate/authgate/authserver/password"
	"github.com/authgate/authgate/authserver/store/sqlite"
)

// TestCookiesOverHTTPS: with an https issuer the session and CSRF cookies
// are __Host- cookies: Secure, HttpOnly, SameSite=Lax, Path=/.
func TestCookiesOverHTTPS(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	km, err := keys.New(st, keys.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	h, _ := password.Parse(string(hash))
	s, err := New(ctx, Config{Issuer: "https://auth.example.com", Store: st, Keys: km, Users: []*User{{Username: "u", Password: h}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://auth.example.com/login", nil))
	csrf := findCookie(t, rec.Result().Cookies(), "__Host-authgate_csrf")
	body := rec.Body.String()
	i := strings.Index(body, `name="csrf_token" value="`)
	token := body[i+len(`name="csrf_token" value="`):]
	token = token[:strings.Index(token, `"`)]

	form := url.Values{"csrf_token": {token}, "username": {"u"}, "password": {"pw"}}
	req := httptest.NewRequest(http.MethodPost, "https://auth.example.com/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(csrf)
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
	}
	findCookie(t, rec.Result().Cookies(), "__Host-authgate_session")
}

func findCookie(t *testing.T, cookies []*http.Cookie, name string) *http.Cookie {
	t.Helper()
	for _, c := range cookies {
		if c.Name == name {
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
				t.Errorf("cookie %s = %+v; want Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", name, c)
			}
			return c
		}
	}
	t.Fatalf("no %s cookie among %v", name, cookies)
	return nil
}
