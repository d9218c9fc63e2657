package authserver

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// revocationFeed tells subscribers which access tokens were revoked: at
// once for revocations made by this instance, and by polling the store
// for those made by others. Each poll reads the revocations stamped from a
// margin before this instance's clock on, so a revocation stamped a little
// earlier (the revoking instance's clock is behind, or its transaction
// committed late) is still found; a set of those already sent keeps them
// from repeating. The margin is short (revocationRecent) but on every
// revocationFullEvery-th poll, which reads the whole revocationMargin
// again: a poll costs what was revoked in the last seconds, not in the
// last half minute, and a mass revocation is read a few times, not every
// second for as long as nothing newer is revoked.
//
// The window follows this instance's clock, not the newest stamp seen:
// another instance whose clock runs ahead cannot push it past the
// revocations of the others.
type revocationFeed struct {
	store store.TokenStore
	mu    sync.Mutex
	// polls counts the periodic polls, to make every
	// revocationFullEvery-th a full one.
	polls  int
	seen   map[string]time.Time
	subs   []func(jtis, gatewaySessions []string)
	subsMu sync.RWMutex
	// lag, if set, is told how long after its revoked_at each revocation
	// was announced here (see ObserveRevocationLag).
	lag func(time.Duration)
}

// A periodic poll reads the revocations stamped from revocationRecent
// before this instance's clock on, and every revocationFullEvery-th poll
// (the first included) from revocationMargin before it. A revocation
// committed elsewhere reaches this instance's subscribers within a poll
// (a second) if it was stamped at most revocationRecent before it was
// committed, as this instance's clock tells, and within
// revocationFullEvery polls if at most revocationMargin before.
const (
	revocationRecent    = 2 * time.Second
	revocationMargin    = 30 * time.Second
	revocationFullEvery = 15
)

// revocationPage is how many revocations one query reads.
const revocationPage = 1000

// SubscribeRevocations registers fn to receive the jtis of revoked access
// tokens and the IDs of ended gateway sessions. fn must be quick and must
// not block.
func (s *Server) SubscribeRevocations(fn func(jtis, gatewaySessions []string)) {
	f := s.revocations
	f.subsMu.Lock()
	f.subs = append(f.subs, fn)
	f.subsMu.Unlock()
}

// ObserveRevocationLag makes fn receive, for every revocation this
// instance announces to its subscribers, how long after the revocation's
// revoked_at that was (never negative, whatever the revoking instance's
// clock said). Set it before the server serves; fn must be quick.
func (s *Server) ObserveRevocationLag(fn func(lag time.Duration)) {
	s.revocations.lag = fn
}

// PollRevocations reads the store for revocations not yet announced and
// sends them to the subscribers. The app calls it every second; this
// instance's own revocations are announced at once (see revoked).
func (s *Server) PollRevocations(ctx context.Context) error {
	return s.pollRevocations(ctx, time.Time{})
}

// pollRevocations is PollRevocations reading the revocations stamped from
// from on, or, if from is zero, from a margin before now (see
// revocationRecent).
func (s *Server) pollRevocations(ctx context.Context, from time.Time) error {
	f := s.revocations
	if from.IsZero() {
		f.mu.Lock()
		margin := revocationRecent
		if f.polls%revocationFullEvery == 0 {
			margin = revocationMargin
		}
		f.polls++
		f.mu.Unlock()
		from = s.now().Add(-margin)
	}
	// The lock is held to sort what was read, never while reading: an
	// announcement of this instance's own revocation, or another poll,
	// never waits for a long read. Concurrent polls may read the same
	// rows; the seen set announces each once.
	cursor := store.RevocationCursor{At: from}
	for {
		revs, err := f.store.RevokedAfter(ctx, cursor, revocationPage)
		if err != nil {
			return fmt.Errorf("polling revocations: %w", err)
		}
		var jtis, sessions []string
		now := s.now()
		f.mu.Lock()
		for _, r := range revs {
			cursor = store.RevocationCursor{At: r.RevokedAt, Kind: r.Kind, ID: r.ID}
			key := string(r.Kind) + "\x00" + r.ID
			if _, done := f.seen[key]; done {
				continue
			}
			f.seen[key] = r.RevokedAt
			if f.lag != nil {
				f.lag(max(now.Sub(r.RevokedAt), 0))
			}
			switch r.Kind {
			case store.AccessToken:
				jtis = append(jtis, r.ID)
			case store.GatewaySession:
				sessions = append(sessions, r.ID)
			}
		}
		f.mu.Unlock()
		if len(jtis) > 0 || len(sessions) > 0 {
			f.subsMu.RLock()
			for _, fn := range f.subs {
				fn(jtis, sessions)
			}
			f.subsMu.RUnlock()
		}
		if len(revs) < revocationPage {
			break
		}
	}
	// What no read window reaches any more is forgotten.
	forget := s.now().Add(-2 * revocationMargin)
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, at := range f.seen {
		if at.Before(forget) {
			delete(f.seen, k)
		}
	}
	return nil
}

// revoked is called after this instance revoked something. It announces
// the revocation even if the client that asked for it has gone away.
//
// Within a request, whatever it revoked is stamped after the request
// started, so only revocations stamped from then on (less a second, for a
// wall clock stepped back) are read: a few rows, where a read from the
// margin before now would read every revocation of the last seconds, on
// every revocation. Outside a request the whole
// margin is read.
func (s *Server) revoked(ctx context.Context) {
	var from time.Time
	if start, ok := ctx.Value(requestStartKey{}).(time.Time); ok {
		from = start.Add(-time.Second)
	}
	if err := s.pollRevocations(context.WithoutCancel(ctx), from); err != nil {
		s.logger.Warn("announcing revocations", zapErr(err))
	}
}

// announceRevoked tells the subscribers of access tokens (jtis) and
// gateway sessions this instance just revoked and knows by ID, without
// reading the store; the next poll does not announce them again.
func (s *Server) announceRevoked(jtis, gatewaySessions []string) {
	f := s.revocations
	now := s.now()
	f.mu.Lock()
	for _, set := range []struct {
		kind store.TokenKind
		ids  []string
	}{{store.AccessToken, jtis}, {store.GatewaySession, gatewaySessions}} {
		for _, id := range set.ids {
			f.seen[string(set.kind)+"\x00"+id] = now
		}
	}
	f.mu.Unlock()
	if f.lag != nil {
		for range len(jtis) + len(gatewaySessions) {
			f.lag(0)
		}
	}
	f.subsMu.RLock()
	for _, fn := range f.subs {
		fn(jtis, gatewaySessions)
	}
	f.subsMu.RUnlock()
}

// requestStartKey marks a request's context with the time it started.
type requestStartKey struct{}

// withRequestStart marks ctx as that of a request started at start.
func withRequestStart(ctx context.Context, start time.Time) context.Context {
	return context.WithValue(ctx, requestStartKey{}, start)
}
