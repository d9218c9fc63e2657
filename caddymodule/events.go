package caddymodule

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/authgate/authgate/authserver"
	"github.com/authgate/authgate/authserver/keys"
)

// auditLoggerName is the audit log's logger name below the app's
// ("authgate.audit"): a Caddy `log` block can include or exclude it to
// route the audit trail to its own file.
const auditLoggerName = "audit"

// onEvent receives the authorization server's events: each goes to the
// audit log and to the metrics.
func (a *App) onEvent(e authserver.Event) {
	a.writeAudit(e)
	if a.metrics != nil {
		a.metrics.observe(e)
	}
}

// onKeyRotated turns a signing key rotation, scheduled or through the
// admin API, into an event.
func (a *App) onKeyRotated(k keys.KeyInfo) {
	a.onEvent(authserver.Event{Name: authserver.EventKeyRotated, Method: k.Algorithm, KeyID: k.ID})
}

// writeAudit writes one audit log entry. Introspections, and a device's
// polls while the user has not answered, are at debug level: they are as
// frequent as API calls and change nothing.
func (a *App) writeAudit(e authserver.Event) {
	if a.audit == nil {
		return
	}
	level := zapcore.InfoLevel
	if e.Name == authserver.EventIntrospection || e.Name == authserver.EventTokenError && pollingAnswer(e.Error) {
		level = zapcore.DebugLevel
	}
	ce := a.audit.Check(level, e.Name)
	if ce == nil {
		return
	}
	ce.Write(auditFields(e)...)
}

// auditFields are an event's log fields, the empty ones left out.
func auditFields(e authserver.Event) []zap.Field {
	fields := make([]zap.Field, 0, 11)
	fields = append(fields, zap.String("event", e.Name))
	for _, f := range []struct{ key, value string }{
		{"outcome", e.Outcome}, {"method", e.Method}, {"client_id", e.Client},
		{"subject", e.Subject}, {"username", e.Username}, {"remote_ip", e.RemoteIP},
		{"error", e.Error}, {"jti", e.JTI}, {"kid", e.KeyID},
	} {
		if f.value != "" {
			fields = append(fields, zap.String(f.key, f.value))
		}
	}
	if e.Count > 0 {
		fields = append(fields, zap.Int("count", e.Count))
	}
	return fields
}

// pollingAnswer reports whether a token endpoint error code is the
// device grant's answer to a poll too early (RFC 8628 §3.5), not a
// failure.
func pollingAnswer(code string) bool {
	return code == "authorization_pending" || code == "slow_down"
}
