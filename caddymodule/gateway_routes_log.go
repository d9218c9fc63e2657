package caddymodule

import (
	"net/url"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// logRoutes logs, at start, one "authgate protects a route" line per
// gateway (each authgate handler, and each verify endpoint): what it
// protects (its hosts and, when its routes' matchers say, paths), which
// credentials it accepts, whose tokens, what it requires and what the
// upstream gets. Never a secret: no client secret, cookie key or token;
// rule values (users, groups, claims) and header names are not secrets.
func (a *App) logRoutes() {
	a.gateways.mu.Lock()
	defer a.gateways.mu.Unlock()
	scopes := a.siteHosts()
	for i, gc := range a.gateways.list {
		middleware := a.gateways.site[gc]
		hosts := slices.Clone(gc.Hosts)
		var paths []string
		if middleware {
			hosts = append(hosts, scopes[gc].hosts...)
			paths = scopes[gc].paths
		}
		slices.Sort(hosts)
		hosts = slices.Compact(hosts)
		issuer := "bundled"
		if gc.Issuer != "" {
			issuer = gc.Issuer
			if u, err := url.Parse(issuer); err == nil && u.User != nil {
				u.User = nil // no credentials in a log
				issuer = u.String()
			}
		}
		fields := []zap.Field{
			zap.Int("route", i+1),
			zap.String("handler", map[bool]string{true: "authgate", false: "authgate_verify"}[middleware]),
			zap.Strings("hosts", nonNilStrings(hosts)),
		}
		if len(paths) > 0 {
			fields = append(fields, zap.Strings("paths", paths))
		}
		fields = append(fields,
			zap.Strings("accept", gc.Accept),
			zap.String("issuer", issuer),
			zap.Bool("introspection", gc.Introspection != nil))
		if rq := gc.Require; rq != nil {
			if len(rq.Scopes) > 0 {
				fields = append(fields, zap.Strings("require_scopes", rq.Scopes))
			}
			if len(rq.Audiences) > 0 {
				fields = append(fields, zap.Strings("require_audiences", rq.Audiences))
			}
			if rq.MFA {
				fields = append(fields, zap.Bool("require_mfa", true))
			}
			if len(rq.Tools) > 0 {
				fields = append(fields, zap.Int("tool_scope_rules", len(rq.Tools)))
			}
		}
		if len(gc.Rules) > 0 {
			fields = append(fields, zap.Strings("rules", ruleSummaries(gc.Rules)))
		}
		custom := make([]string, 0, len(gc.Headers))
		for name, field := range gc.Headers {
			custom = append(custom, name+"="+field)
		}
		slices.Sort(custom)
		headers := "X-Auth-*"
		if gc.RemoteHeaders {
			headers += ", Remote-*"
		}
		fields = append(fields, zap.String("identity_headers", headers))
		if len(custom) > 0 {
			fields = append(fields, zap.Strings("custom_headers", custom))
		}
		fields = append(fields, zap.Bool("strip_authorization", gc.StripAuthorization))
		if gc.MCP {
			fields = append(fields, zap.Bool("mcp", true))
		}
		a.logger.Info("authgate protects a route", fields...)
	}
}

// ruleSummaries describes rules in a few words each: "allow group
// admins,ops", "deny claim dept=sales", "allow expression".
func ruleSummaries(rules []RuleConfig) []string {
	out := make([]string, 0, len(rules))
	for _, r := range rules {
		s := r.Effect + " " + r.Kind
		switch {
		case r.Kind == "expression":
		case r.Claim != "":
			s += " " + r.Claim + "=" + strings.Join(r.Values, ",")
		default:
			s += " " + strings.Join(r.Values, ",")
		}
		out = append(out, s)
	}
	return out
}

// nonNilStrings is v, or an empty list for nil (logged as [], not null).
func nonNilStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
