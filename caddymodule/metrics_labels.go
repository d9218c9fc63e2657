package caddymodule

import (
	"sync"

	"github.com/authgate/authgate/authserver"
)

// otherLabel stands for every label value past a label's bound.
const otherLabel = "other"

// Bounds of the label values the server's events supply. They are far
// above what the server uses, and low enough that even a bug that put a
// request's words into an event could not flood the registry.
const (
	maxErrorCodes = 40
	maxMethods    = 40
	maxOutcomes   = 10
)

// grantLabels are the grant types the server supports, the values of the
// grant label; any other grant_type a client sends is "other".
var grantLabels = []string{
	authserver.GrantAuthorizationCode, authserver.GrantRefreshToken,
	authserver.GrantClientCredentials, authserver.GrantDeviceCode,
}

// eventNames are the events the server emits, the values of the event
// label.
var eventNames = []string{
	authserver.EventSignIn, authserver.EventSignOut, authserver.EventSecondFactor, authserver.EventConsentGiven,
	authserver.EventConsentRevoked, authserver.EventTokenIssued, authserver.EventTokenError, authserver.EventTokenRevoked,
	authserver.EventRefreshReuse, authserver.EventCodeReplay, authserver.EventIntrospection, authserver.EventDeviceCode,
	authserver.EventClientRegistered, authserver.EventClientUpdated, authserver.EventClientDeleted,
	authserver.EventClientAuthFailure, authserver.EventKeyRotated, authserver.EventAdmin, authserver.EventUserChanged,
	authserver.EventSessionEnded,
}

// metricLabels turns event fields into label values, keeping each label's
// values few:
//   - client: the configured clients' IDs and the gateway's built-in
//     client; any other client (dynamically registered, known by a
//     metadata document, or a client_id nobody registered) is "other";
//   - grant and event: the known values, else "other";
//   - the rest (error code, methods, outcomes): the first values seen,
//     up to a bound, if they look like identifiers; else "other".
type metricLabels struct {
	clients  map[string]bool
	grants   map[string]bool
	eventSet map[string]bool
	errorCodes, revokeMethods, signInMethods, signInOutcomes,
	deviceOutcomes *labelSet
}

func newMetricLabels(clients []*authserver.Client) metricLabels {
	l := metricLabels{
		clients:        map[string]bool{authserver.GatewayClientID: true},
		grants:         map[string]bool{},
		eventSet:       map[string]bool{},
		errorCodes:     newLabelSet(maxErrorCodes),
		revokeMethods:  newLabelSet(maxMethods),
		signInMethods:  newLabelSet(maxMethods),
		signInOutcomes: newLabelSet(maxOutcomes),
		deviceOutcomes: newLabelSet(maxOutcomes),
	}
	for _, c := range clients {
		l.clients[c.ID] = true
	}
	for _, g := range grantLabels {
		l.grants[g] = true
	}
	for _, e := range eventNames {
		l.eventSet[e] = true
	}
	return l
}

// client is the client label of a client ID.
func (l *metricLabels) client(id string) string {
	switch {
	case id == "":
		return "none"
	case l.clients[id]:
		return id
	}
	return otherLabel
}

// grant is the grant label of a grant type.
func (l *metricLabels) grant(gt string) string {
	if l.grants[gt] {
		return gt
	}
	return otherLabel
}

// event is the event label of an event name.
func (l *metricLabels) event(name string) string {
	if l.eventSet[name] {
		return name
	}
	return otherLabel
}

// labelSet admits the first max distinct values that look like
// identifiers; any other value is "other".
type labelSet struct {
	max  int
	mu   sync.RWMutex
	seen map[string]bool
}

func newLabelSet(max int) *labelSet { return &labelSet{max: max, seen: map[string]bool{}} }

// value is v's label value.
func (s *labelSet) value(v string) string {
	if !identifierLike(v) {
		return otherLabel
	}
	s.mu.RLock()
	ok := s.seen[v]
	s.mu.RUnlock()
	if ok {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.seen[v] {
		if len(s.seen) >= s.max {
			return otherLabel
		}
		s.seen[v] = true
	}
	return v
}

// maxLabelLength bounds a label value from an event.
const maxLabelLength = 64

// identifierLike: 1 to maxLabelLength lower-case letters, digits and
// _ . : - (an error code, a method such as provider:corp).
func identifierLike(v string) bool {
	if v == "" || len(v) > maxLabelLength {
		return false
	}
	for _, c := range v {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '.', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}
