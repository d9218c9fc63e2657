package caddymodule

import (
	"net/url"
	"slices"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/authgate/authgate/caddymodule/gateway"
)

// gatewayList is the configuration's gateways, gathered as they
// provision, so that the app can tell each the hosts it protects once
// the whole configuration is known.
type gatewayList struct {
	mu   sync.Mutex
	list []*GatewayConfig
	// site: the gateway is a middleware, so its site's host matchers
	// count as its hosts (the verify endpoint's own site does not).
	site map[*GatewayConfig]bool
}

func (a *App) addGateway(gc *GatewayConfig, middleware bool) {
	a.gateways.mu.Lock()
	defer a.gateways.mu.Unlock()
	if a.gateways.site == nil {
		a.gateways.site = map[*GatewayConfig]bool{}
	}
	a.gateways.list = append(a.gateways.list, gc)
	a.gateways.site[gc] = middleware
}

// setGatewayHosts gives every gateway its hosts: those it lists, and for
// a middleware the host matchers of the routes it is in. The bundled
// server's gateway client may then push redirect URIs only to the
// callback paths of those hosts.
func (a *App) setGatewayHosts() error {
	a.gateways.mu.Lock()
	defer a.gateways.mu.Unlock()
	derived := a.siteHosts()
	var all []string
	callbacks := map[string]bool{}
	for _, gc := range a.gateways.list {
		hosts := slices.Clone(gc.Hosts)
		if a.gateways.site[gc] {
			for _, h := range derived[gc].hosts {
				// Host matchers may hold patterns a host list cannot (such
				// as example.*): those hosts are not derived.
				if _, err := gateway.NewHostList([]string{h}); err == nil {
					hosts = append(hosts, h)
				}
			}
		}
		list, err := gateway.NewHostList(hosts)
		if err != nil {
			return err
		}
		gc.gw.SetHosts(list)
		gc.setRoute(gc.routeLabel(hosts, a.gateways.site[gc]), true)
		all = append(all, hosts...)
		callbacks[gc.gw.CallbackPath()] = true
		if list.Len() == 0 && gc.gw.SignsIn() {
			a.logger.Warn("a gateway that signs browsers in protects no named host: sign-in will be refused; give its site an address with a host name, or list the hosts with the hosts option",
				zap.Bool("verify_endpoint", !a.gateways.site[gc]))
		}
	}
	union, err := gateway.NewHostList(all)
	if err != nil {
		return err
	}
	a.server.SetGatewayRedirects(func(u *url.URL) bool {
		// The gateway checked the port against the connection; here the
		// name, the scheme and the path.
		return union.AllowsName(u.Host) && gateway.SecureOrigin(u.Scheme, u.Host) && callbacks[u.Path]
	})
	return nil
}

// routeScope is what a gateway's routes are limited to: hosts and paths
// (nil for no limit, or patterns a list cannot hold).
type routeScope struct{ hosts, paths []string }

// siteHosts finds, for every authgate handler in the http app's routes,
// the host names of the host matchers of the routes it sits in, and the
// paths of their path matchers.
func (a *App) siteHosts() map[*GatewayConfig]routeScope {
	out := map[*GatewayConfig]routeScope{}
	app, err := a.ctx.AppIfConfigured("http")
	if err != nil || app == nil {
		return out
	}
	httpApp, ok := app.(*caddyhttp.App)
	if !ok {
		return out
	}
	var walk func(routes caddyhttp.RouteList, scope routeScope)
	walk = func(routes caddyhttp.RouteList, scope routeScope) {
		for _, rt := range routes {
			sc := scope
			if narrowed, ok := routeHosts(rt.MatcherSets); ok {
				sc.hosts = narrowed
			}
			if narrowed, ok := routePaths(rt.MatcherSets); ok {
				sc.paths = narrowed
			}
			for _, handler := range rt.Handlers {
				switch x := handler.(type) {
				case *Gateway:
					got := out[&x.GatewayConfig]
					got.hosts = append(got.hosts, sc.hosts...)
					got.paths = append(got.paths, sc.paths...)
					out[&x.GatewayConfig] = got
				case *caddyhttp.Subroute:
					walk(x.Routes, sc)
				}
			}
		}
	}
	for _, srv := range httpApp.Servers {
		walk(srv.Routes, routeScope{})
	}
	return out
}

// routePaths returns the paths a route's matchers limit it to, if every
// one of its matcher sets has a path matcher.
func routePaths(sets caddyhttp.MatcherSets) ([]string, bool) {
	if len(sets) == 0 {
		return nil, false
	}
	var paths []string
	for _, set := range sets {
		found := false
		for _, m := range set {
			switch mp := m.(type) {
			case caddyhttp.MatchPath:
				paths, found = append(paths, mp...), true
			case *caddyhttp.MatchPath:
				paths, found = append(paths, *mp...), true
			}
		}
		if !found {
			return nil, false
		}
	}
	return paths, true
}

// routeHosts returns the hosts a route's matchers limit it to, if every
// one of its matcher sets has a host matcher.
func routeHosts(sets caddyhttp.MatcherSets) ([]string, bool) {
	if len(sets) == 0 {
		return nil, false
	}
	var hosts []string
	for _, set := range sets {
		found := false
		for _, m := range set {
			switch mh := m.(type) {
			case caddyhttp.MatchHost:
				hosts, found = append(hosts, mh...), true
			case *caddyhttp.MatchHost:
				hosts, found = append(hosts, *mh...), true
			}
		}
		if !found {
			return nil, false
		}
	}
	return hosts, true
}
