package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// gatewaySetup is one Caddy with three sites: the authorization server
// (issuer), an app protected by authgate, and a service protected through
// forward_auth to authgate_verify. Both upstreams echo the identity
// headers they receive.
type gatewaySetup struct {
	*testCaddy
	app, fwd string // origins
}

// echo is an upstream that shows the identity headers it was given.
const echo = `respond "sub={http.request.header.X-Auth-Subject} user={http.request.header.X-Auth-Username} email={http.request.header.X-Auth-Email} groups={http.request.header.X-Auth-Groups} scopes={http.request.header.X-Auth-Scopes} client={http.request.header.X-Auth-Client-Id} remote={http.request.header.Remote-User} authz={http.request.header.Authorization} ph={authgate.subject} claim={authgate.claims.email} cookie={http.request.header.Cookie} id={http.auth.user.id}" 200`

// startGateway runs the three sites; api and web are the authgate blocks'
// contents for the app's /api/* and other routes. In options, api and web,
// $APP and $FWD stand for the app's and the forward_auth site's origins,
// $FWDHOST for the latter's host and port.
func startGateway(t *testing.T, options, api, web string) *gatewaySetup {
	t.Helper()
	g := newGateway(t)
	g.start(options, api, web)
	return g
}

// newGateway picks the three sites' ports, for services that must know
// the issuer or the app's origin before the sites start (an upstream
// identity provider's redirect URI, say); start starts them.
func newGateway(t *testing.T) *gatewaySetup {
	t.Helper()
	return &gatewaySetup{testCaddy: newTestCaddy(t),
		app: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		fwd: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
}

// start runs the sites of newGateway as startGateway does.
func (g *gatewaySetup) start(options, api, web string) {
	t, tc := g.t, g.testCaddy
	t.Helper()
	origins := strings.NewReplacer("$APP", g.app, "$FWDHOST", strings.TrimPrefix(g.fwd, "http://"), "$FWD", g.fwd)
	options, api, web = origins.Replace(options), origins.Replace(api), origins.Replace(web)
	caddyfile := tc.globalOptions(options) + fmt.Sprintf(`
%s {
	bind 127.0.0.1
	authgate_server
	handle /verify* {
		authgate_verify {
			accept session bearer
			header X-Auth-Subject subject
			hosts %s
		}
	}
	respond "issuer site" 404
}

%s {
	bind 127.0.0.1
	route /api/* {
		authgate {
			%s
		}
		%s
	}
	route {
		authgate {
			%s
		}
		%s
	}
}

%s {
	bind 127.0.0.1
	forward_auth %s {
		uri /verify
		copy_headers X-Auth-Subject X-Auth-Username X-Auth-Email X-Auth-Groups X-Auth-Scopes X-Auth-Client-Id
	}
	%s
}
`, tc.issuer, strings.TrimPrefix(g.fwd, "http://"), g.app, api, echo, web, echo, g.fwd, strings.TrimPrefix(tc.issuer, "http://"), echo)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	tc.config = cfg
	tc.load()
	t.Cleanup(func() { caddy.Stop() }) //nolint:errcheck
}

// call sends a request to one of the sites, with an optional bearer token
// and extra header pairs.
func (g *gatewaySetup) call(method, url, token string, headers ...string) response {
	g.t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return do(g.t, req)
}
