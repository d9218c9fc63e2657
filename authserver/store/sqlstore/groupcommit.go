package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/authgate/authgate/authserver/store"
)

// maxGroup bounds how many token inserts one transaction commits.
const maxGroup = 256

// errStoreClosed answers inserts made after Close.
var errStoreClosed = errors.New("the store is closed")

// groupCommitter commits token inserts in groups: one writer goroutine
// takes every insert waiting when it is free, runs them in one
// transaction, commits once, and only then answers each caller. Where
// every write transaction is exclusive anyway (SQLite), this turns N
// commits into one without making anyone wait for a timer: a lone insert
// is committed at once, and inserts group up only while a commit is
// under way. Each insert still gets its own answer (stored, already
// exists, or the error), and none is answered before it is durable.
type groupCommitter struct {
	s       *Store
	inserts chan *pendingInsert
	stop    chan struct{}
	stopped sync.Once
	done    sync.WaitGroup
	// exited is closed once the writer has stopped and the queue is
	// drained.
	exited chan struct{}
}

// pendingInsert is one CreateToken waiting for its group's commit.
type pendingInsert struct {
	ctx    context.Context
	token  store.Token
	result chan error
}

func newGroupCommitter(s *Store) *groupCommitter {
	g := &groupCommitter{s: s, inserts: make(chan *pendingInsert, maxGroup),
		stop: make(chan struct{}), exited: make(chan struct{})}
	g.done.Add(1)
	go g.run()
	return g
}

// insert hands t to the writer and waits for its commit, or for ctx.
// After ctx ends the token may still be stored; its caller never saw it
// issued, so nothing depends on it.
func (g *groupCommitter) insert(ctx context.Context, t store.Token) error {
	p := &pendingInsert{ctx: ctx, token: t, result: make(chan error, 1)}
	select {
	case g.inserts <- p:
	case <-g.stop:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-g.exited:
		select {
		case err := <-p.result:
			return err
		default:
			return errStoreClosed
		}
	}
}

// close stops the writer after it answered what it took; later inserts
// get errStoreClosed. Closing again does nothing.
func (g *groupCommitter) close() {
	g.stopped.Do(func() {
		close(g.stop)
		g.done.Wait()
		for drained := false; !drained; {
			select {
			case p := <-g.inserts:
				p.result <- errStoreClosed
			default:
				drained = true
			}
		}
		close(g.exited)
	})
}

func (g *groupCommitter) run() {
	defer g.done.Done()
	group := make([]*pendingInsert, 0, maxGroup)
	for {
		select {
		case p := <-g.inserts:
			group = append(group[:0], p)
		case <-g.stop:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case p := <-g.inserts:
				group = append(group, p)
			default:
				break more
			}
		}
		g.commit(group)
		clear(group)
	}
}

// commit stores a group in one transaction. If the transaction fails as a
// whole, nothing of it was committed, and each insert is tried again on
// its own so that each caller gets its own answer.
func (g *groupCommitter) commit(group []*pendingInsert) {
	live := group[:0:0]
	for _, p := range group {
		if err := p.ctx.Err(); err != nil {
			p.result <- err
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	results := make([]error, len(live))
	ctx := context.Background()
	if g.s.flavor.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.s.flavor.Timeout)
		defer cancel()
	}
	err := g.s.inTx(ctx, "", func(tx *sql.Tx) error {
		if err := g.s.lockFamilies(tx, live); err != nil {
			return err
		}
		for i, p := range live {
			results[i] = g.s.insertInTx(p.ctx, tx, p.token)
			if results[i] != nil && !errors.Is(results[i], store.ErrAlreadyExists) {
				return results[i]
			}
		}
		return nil
	})
	if err == nil {
		for i, p := range live {
			p.result <- results[i]
		}
		return
	}
	for _, p := range live {
		p.result <- g.s.inTx(p.ctx, familyLock(p.token), func(tx *sql.Tx) error { return g.s.insertInTx(p.ctx, tx, p.token) })
	}
}

// lockFamilies takes, within tx, the lock of each token family the group
// inserts into, in order (so that two instances' groups cannot deadlock),
// as CreateToken does for one token: a family is not revoked between its
// check and a new member's insert.
func (s *Store) lockFamilies(tx *sql.Tx, group []*pendingInsert) error {
	if s.flavor.Lock == nil {
		return nil
	}
	var locks []string
	for _, p := range group {
		if l := familyLock(p.token); l != "" {
			locks = append(locks, l)
		}
	}
	slices.Sort(locks)
	for _, l := range slices.Compact(locks) {
		if err := s.flavor.Lock(context.Background(), tx, l); err != nil {
			return fmt.Errorf("taking lock %q: %w", l, err)
		}
	}
	return nil
}

// familyLock names the lock of t's family, or is empty for a token
// without one.
func familyLock(t store.Token) string {
	if t.FamilyID == "" {
		return ""
	}
	return "family:" + t.FamilyID
}

// insertInTx inserts t within tx: a token of a revoked family is stored
// revoked, as CreateToken promises.
func (s *Store) insertInTx(ctx context.Context, tx *sql.Tx, t store.Token) error {
	if t.FamilyID != "" {
		if err := s.inheritFamilyRevocation(ctx, tx, &t); err != nil {
			return err
		}
	}
	if err := s.insertToken(ctx, tx, t); err != nil {
		return err
	}
	return nil
}

// inheritFamilyRevocation marks t revoked if its family was.
func (s *Store) inheritFamilyRevocation(ctx context.Context, tx *sql.Tx, t *store.Token) error {
	var revoked sql.NullInt64
	err := tx.QueryRowContext(ctx, s.q(`SELECT MIN(revoked_at) FROM tokens WHERE family_id = ? AND family_id <> '' AND revoked_at IS NOT NULL`),
		t.FamilyID).Scan(&revoked)
	if err != nil {
		return fmt.Errorf("checking family: %w", err)
	}
	if revoked.Valid && t.RevokedAt.IsZero() {
		t.RevokedAt = fromMicros(revoked.Int64)
	}
	return nil
}
