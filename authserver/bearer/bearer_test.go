package bearer

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestFromHeader: every spelling of the Authorization header, with and
// without bare tokens allowed.
func TestFromHeader(t *testing.T) {
	long := strings.Repeat("a", MaxTokenLength+1)
	for _, tt := range []struct {
		name    string
		values  []string
		bare    bool
		token   string
		wantErr error
	}{
		{name: "none"},
		{name: "bearer", values: []string{"Bearer abc.def"}, token: "abc.def"},
		{name: "scheme in any case", values: []string{"bEaReR abc"}, token: "abc"},
		{name: "spaces around the token", values: []string{"Bearer   abc  "}, token: "abc"},
		{name: "repeated", values: []string{"Bearer a", "Bearer b"}, wantErr: ErrRepeated},
		{name: "no token", values: []string{"Bearer "}, wantErr: ErrMalformed},
		{name: "scheme alone", values: []string{"Bearer"}, wantErr: ErrMalformed},
		{name: "too long", values: []string{"Bearer " + long}, wantErr: ErrMalformed},
		{name: "basic", values: []string{"Basic dTpw"}, wantErr: ErrOtherScheme},
		{name: "bare token refused by default", values: []string{"abc.def"}, wantErr: ErrOtherScheme},
		{name: "bare token", values: []string{"abc.def"}, bare: true, token: "abc.def"},
		{name: "bearer still read with bare", values: []string{"Bearer abc"}, bare: true, token: "abc"},
		{name: "basic with bare", values: []string{"Basic dTpw"}, bare: true, wantErr: ErrOtherScheme},
		{name: "bare with a comma", values: []string{"a,b"}, bare: true, wantErr: ErrOtherScheme},
		{name: "bare too long", values: []string{long}, bare: true, wantErr: ErrOtherScheme},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.values {
				h.Add("Authorization", v)
			}
			token, err := FromHeader(h, tt.bare)
			if token != tt.token || !errors.Is(err, tt.wantErr) {
				t.Errorf("FromHeader(%q, %v) = %q, %v; want %q, %v", tt.values, tt.bare, token, err, tt.token, tt.wantErr)
			}
		})
	}
}

// TestChallenge: parameters in order, empty ones left out, the
// description only with an error, values quoted.
func TestChallenge(t *testing.T) {
	for _, tt := range []struct {
		c    Challenge
		want string
	}{
		{Challenge{Realm: "api"}, `Bearer realm="api"`},
		{Challenge{}, `Bearer`},
		{Challenge{Realm: "api", Description: "dropped without an error"}, `Bearer realm="api"`},
		{Challenge{Realm: "api", Error: "invalid_token", Description: "expired"}, `Bearer realm="api", error="invalid_token", error_description="expired"`},
		{Challenge{Realm: "api", Error: "insufficient_scope", Scope: "read write", ResourceMetadata: "https://api.example/.well-known/oauth-protected-resource"},
			`Bearer realm="api", error="insufficient_scope", scope="read write", resource_metadata="https://api.example/.well-known/oauth-protected-resource"`},
		{Challenge{Realm: `a"b\c` + "\r\nX: y"}, `Bearer realm="a\"b\\cX: y"`},
		// RFC 9470 §3's examples.
		{Challenge{Error: InsufficientUserAuthentication, Description: "A different authentication level is required", ACRValues: "myACR"},
			`Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="myACR"`},
		{Challenge{Error: InsufficientUserAuthentication, Description: "More recent authentication is required", MaxAge: intPtr(5)},
			`Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", max_age="5"`},
		{Challenge{Realm: "api", Error: InsufficientUserAuthentication, Scope: "read", ACRValues: "mfa phr", MaxAge: intPtr(0), ResourceMetadata: "https://api.example/.well-known/oauth-protected-resource"},
			`Bearer realm="api", error="insufficient_user_authentication", scope="read", acr_values="mfa phr", max_age="0", resource_metadata="https://api.example/.well-known/oauth-protected-resource"`},
		{Challenge{Realm: "api", MaxAge: intPtr(-1)}, `Bearer realm="api"`},
	} {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%+v: got %s; want %s", tt.c, got, tt.want)
		}
	}
}

func intPtr(n int) *int { return &n }
