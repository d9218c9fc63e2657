package caddymodule

import (
	"slices"
	"strings"

	"github.com/authgate/authgate/authserver"
	"go.uber.org/zap"
)

// unobtainable lists what a gateway on the bundled server requires that
// no token could carry: scopes (require scope, and require scope … for
// tool …) that no configured client may request and that dynamic
// registration or client ID metadata documents would not grant, and
// audiences (require audience) that no client may request and that are
// not the issuer. Clients added later through the admin API are not
// known here, so these are warnings, never errors.
func (gc *GatewayConfig) unobtainable(app *App, issuer string, sessions bool) (scopes, audiences []string) {
	if gc.Require == nil || gc.Issuer != "" {
		return nil, nil
	}
	var canScope, canAudience []string
	for _, c := range app.Clients {
		if c != nil {
			canScope = append(canScope, c.Scopes...)
			canAudience = append(canAudience, c.Audiences...)
		}
	}
	if sessions {
		canScope = append(canScope, authserver.GatewayClientScopes...)
	}
	registers := app.ClientIDMetadataDocuments != nil
	if rc := app.Registration; rc != nil && (rc.Mode == authserver.RegistrationOpen || rc.Mode == authserver.RegistrationToken) {
		registers = true
	}
	if registers {
		// Self-registered and metadata document clients get the
		// registration policy's scopes and audiences.
		regScopes := authserver.DefaultRegistrationScopes
		if rc := app.Registration; rc != nil {
			if rc.Scopes != nil {
				regScopes = rc.Scopes
			}
			canAudience = append(canAudience, rc.Audiences...)
		}
		canScope = append(canScope, regScopes...)
	}
	required := slices.Clone(gc.Require.Scopes)
	for _, ts := range gc.Require.Tools {
		required = append(required, ts.Scopes...)
	}
	for _, sc := range required {
		if !slices.Contains(canScope, sc) && !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	for _, aud := range gc.Require.Audiences {
		if aud != issuer && !slices.Contains(canAudience, aud) && !slices.Contains(audiences, aud) {
			audiences = append(audiences, aud)
		}
	}
	return scopes, audiences
}

// warnUnobtainable logs a warning for each required scope or audience no
// client can obtain (see unobtainable), naming the route.
func (gc *GatewayConfig) warnUnobtainable(logger *zap.Logger, app *App, issuer string, sessions bool) {
	scopes, audiences := gc.unobtainable(app, issuer, sessions)
	if len(scopes) == 0 && len(audiences) == 0 {
		return
	}
	route := gc.routeName()
	for _, sc := range scopes {
		logger.Warn("route "+route+" requires scope "+sc+", which no configured client may obtain: add it to a client's scopes (or to registration scopes), or requests will be refused",
			zap.String("route", route), zap.String("scope", sc))
	}
	for _, aud := range audiences {
		logger.Warn("route "+route+" requires audience "+aud+", which no configured client may request: add it to a client's audiences (or to registration audiences), or no token issued here will carry it",
			zap.String("route", route), zap.String("audience", aud))
	}
}

// routeName describes a gateway for a log line: its name, hosts and
// resource path, as configured.
func (gc *GatewayConfig) routeName() string {
	var parts []string
	if gc.Name != "" {
		parts = append(parts, "name="+gc.Name)
	}
	if len(gc.Hosts) > 0 {
		parts = append(parts, "hosts="+strings.Join(gc.Hosts, ","))
	}
	if gc.ResourcePath != "" {
		parts = append(parts, "resource_path="+gc.ResourcePath)
	}
	if len(parts) == 0 {
		return "(authgate handler)"
	}
	return "[" + strings.Join(parts, " ") + "]"
}
