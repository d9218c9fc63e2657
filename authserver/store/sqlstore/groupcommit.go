package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/authgate/authgate/authserver/store"
)

// maxGroup bounds how many writes one transaction commits.
const maxGroup = 256

// errStoreClosed answers writes made after Close.
var errStoreClosed = errors.New("the store is closed")

// groupCommitter commits token writes in groups: one writer goroutine
// takes every write waiting when it is free, runs them in one
// transaction, commits once, and only then answers each caller. Where
// every write transaction is exclusive anyway (SQLite), this turns N
// commits into one without making anyone wait for a timer: a lone write
// is committed at once, and writes group up only while a commit is under
// way. Each write still gets its own answer (stored, already exists,
// spent already, or the error), and none is answered before it is
// durable.
type groupCommitter struct {
	s      *Store
	writes chan *pendingWrite
	stop   chan struct{}
	// stopped guards the closing of stop.
	stopped sync.Once
	done    sync.WaitGroup
	// exited is closed once the writer has stopped and the queue is
	// drained.
	exited chan struct{}
}

// pendingWrite is one IssueTokens, CreateToken or RevokeToken waiting
// for its group's commit.
type pendingWrite struct {
	ctx    context.Context
	w      tokenWrite
	result chan writeResult
}

// tokenWrite is one caller's write: a record to revoke, or a record to
// spend (if any) and the tokens to store.
type tokenWrite struct {
	revoke *revocation
	spend  *store.Spend
	tokens []store.Token
}

// revocation names a record to mark revoked, and when.
type revocation struct {
	kind store.TokenKind
	id   string
	at   time.Time
}

// writeResult answers a pendingWrite: the spent record and the error.
type writeResult struct {
	spent store.Token
	err   error
}

func newGroupCommitter(s *Store) *groupCommitter {
	g := &groupCommitter{s: s, writes: make(chan *pendingWrite, maxGroup),
		stop: make(chan struct{}), exited: make(chan struct{})}
	g.done.Add(1)
	go g.run()
	return g
}

// write hands a write to the writer and waits for its answer. A write
// whose ctx ended before its group began is not run (its answer is ctx's
// error); once its group began, the answer says what was committed,
// however long that takes (the writer's transactions are bounded by the
// flavor's Timeout): an answer of ctx's error while the write went on to
// commit would leave, say, a refresh token spent and its successor never
// handed out.
func (g *groupCommitter) write(ctx context.Context, w tokenWrite) (store.Token, error) {
	p := &pendingWrite{ctx: ctx, w: w, result: make(chan writeResult, 1)}
	select {
	case g.writes <- p:
	case <-g.stop:
		return store.Token{}, errStoreClosed
	case <-ctx.Done():
		return store.Token{}, ctx.Err()
	}
	select {
	case r := <-p.result:
		return r.spent, r.err
	case <-g.exited:
		select {
		case r := <-p.result:
			return r.spent, r.err
		default:
			return store.Token{}, errStoreClosed
		}
	}
}

// close stops the writer after it answered what it took; later writes
// get errStoreClosed. Closing again does nothing.
func (g *groupCommitter) close() {
	g.stopped.Do(func() {
		close(g.stop)
		g.done.Wait()
		for drained := false; !drained; {
			select {
			case p := <-g.writes:
				p.result <- writeResult{err: errStoreClosed}
			default:
				drained = true
			}
		}
		close(g.exited)
	})
}

func (g *groupCommitter) run() {
	defer g.done.Done()
	group := make([]*pendingWrite, 0, maxGroup)
	for {
		select {
		case p := <-g.writes:
			group = append(group[:0], p)
		case <-g.stop:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case p := <-g.writes:
				group = append(group, p)
			default:
				break more
			}
		}
		g.commit(group)
		clear(group)
	}
}

// commit runs a group in one transaction. A write whose answer is that
// it changed nothing (its record was spent already, a token of a lone
// insert exists already) leaves the others to commit. A write that would
// have to be undone halfway (the second token of a write exists already),
// or any other error before the COMMIT, fails the transaction as a whole:
// nothing of it was committed, and each write is run again in its own
// transaction, so that each caller gets its own answer and a write is all
// or nothing. A failed COMMIT may have been applied nonetheless, so its
// error answers every write of the group: running them again would find
// their records spent and take a client's refresh for a replay.
//
// The statements run with the group's context, not their callers': one
// caller going away must not fail everyone's transaction.
func (g *groupCommitter) commit(group []*pendingWrite) {
	live := group[:0:0]
	for _, p := range group {
		if err := p.ctx.Err(); err != nil {
			p.result <- writeResult{err: err}
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	results := make([]writeResult, len(live))
	ctx, cancel := g.s.writerContext()
	defer cancel()
	err := g.s.inTx(ctx, "", func(tx *sql.Tx) error {
		var all []store.Token
		for _, p := range live {
			all = append(all, p.w.tokens...)
		}
		if err := g.s.lockFamilies(ctx, tx, all); err != nil {
			return err
		}
		for i, p := range live {
			spent, wrote, err := g.s.writeInTx(ctx, tx, p.w)
			if err != nil && (wrote || !isAnswer(err)) {
				return err
			}
			results[i] = writeResult{spent: spent, err: err}
		}
		return nil
	})
	if err == nil {
		for i, p := range live {
			p.result <- results[i]
		}
		return
	}
	if errors.As(err, new(*commitError)) {
		for _, p := range live {
			p.result <- writeResult{err: err}
		}
		return
	}
	for _, p := range live {
		ctx, cancel := g.s.writerContext()
		spent, err := g.s.writeAlone(ctx, p.w)
		cancel()
		p.result <- writeResult{spent: spent, err: err}
	}
}

// writerContext bounds one transaction of the group committer by the
// flavor's Timeout, if it has one.
func (s *Store) writerContext() (context.Context, context.CancelFunc) {
	if s.flavor.Timeout > 0 {
		return context.WithTimeout(context.Background(), s.flavor.Timeout)
	}
	return context.WithCancel(context.Background())
}

// isAnswer reports whether err is a write's own answer (its record was
// spent, revoked or missing, or a token exists already) rather than a
// failure of the transaction.
func isAnswer(err error) bool {
	return errors.Is(err, store.ErrAlreadyExists) || errors.Is(err, store.ErrConsumed) ||
		errors.Is(err, store.ErrInactive) || errors.Is(err, store.ErrNotFound)
}

// writeAlone runs one write in its own transaction, rolled back on any
// error, so that it is all or nothing.
func (s *Store) writeAlone(ctx context.Context, w tokenWrite) (store.Token, error) {
	var spent store.Token
	err := s.inTx(ctx, "", func(tx *sql.Tx) error {
		if err := s.lockFamilies(ctx, tx, w.tokens); err != nil {
			return err
		}
		var err error
		spent, _, err = s.writeInTx(ctx, tx, w)
		return err
	})
	return spent, err
}

// writeInTx runs w within tx: it revokes w.revoke's record, or spends
// w.spend's record, if any, then stores w.tokens. wrote tells whether it
// changed anything before it failed: a failed write that wrote must be
// undone with its transaction.
func (s *Store) writeInTx(ctx context.Context, tx *sql.Tx, w tokenWrite) (spent store.Token, wrote bool, err error) {
	if w.revoke != nil {
		return store.Token{}, false, s.revokeInTx(ctx, tx, *w.revoke)
	}
	if w.spend != nil {
		spent, err = s.spendInTx(ctx, tx, *w.spend)
		if err != nil {
			return spent, false, err
		}
		wrote = true
	}
	n, err := s.insertTokens(ctx, tx, w.tokens)
	return spent, wrote || n > 0, err
}

// revokeTokenQuery marks a record revoked, keeping an earlier revocation
// time.
const revokeTokenQuery = `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE kind = ? AND id = ?`

// revokeInTx marks r's record revoked within tx, as RevokeToken promises;
// store.ErrNotFound if there is none.
func (s *Store) revokeInTx(ctx context.Context, tx *sql.Tx, r revocation) error {
	st, done, err := s.writeStmtIn(ctx, tx, revokeTokenQuery)
	if err != nil {
		return fmt.Errorf("revoking %s: %w", r.kind, err)
	}
	defer done()
	res, err := st.ExecContext(ctx, micros(r.at), string(r.kind), r.id)
	if err != nil {
		return fmt.Errorf("revoking %s: %w", r.kind, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("revoking %s: %w", r.kind, err)
	} else if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// spendTokenQuery consumes a record that is still unconsumed, unrevoked
// and unexpired.
const spendTokenQuery = `UPDATE tokens SET consumed_at = ?
		WHERE kind = ? AND id = ? AND consumed_at IS NULL AND revoked_at IS NULL AND expires_at > ?
		RETURNING ` + tokenColumns

// spendInTx consumes spend's record within tx, as IssueTokens promises.
func (s *Store) spendInTx(ctx context.Context, tx *sql.Tx, spend store.Spend) (store.Token, error) {
	st, done, err := s.writeStmtIn(ctx, tx, spendTokenQuery)
	if err != nil {
		return store.Token{}, fmt.Errorf("spending %s: %w", spend.Kind, err)
	}
	defer done()
	at := micros(spend.At)
	t, err := scanToken(st.QueryRowContext(ctx, at, string(spend.Kind), spend.ID, at))
	if !errors.Is(err, store.ErrNotFound) {
		return t, err
	}
	t, err = scanToken(tx.QueryRowContext(ctx, s.q(`SELECT `+tokenColumns+` FROM tokens WHERE kind = ? AND id = ?`), string(spend.Kind), spend.ID))
	switch {
	case err != nil:
		return t, err
	case !t.ConsumedAt.IsZero():
		return t, store.ErrConsumed
	default:
		return t, store.ErrInactive
	}
}

// lockFamilies takes, within tx, the lock of each family the tokens are
// inserted into, as CreateToken does for one token: a family is not
// revoked between its check and a new member's insert. The flavor takes
// them in its own order, so that two instances' groups cannot deadlock.
func (s *Store) lockFamilies(ctx context.Context, tx *sql.Tx, tokens []store.Token) error {
	if s.flavor.Lock == nil {
		return nil
	}
	var locks []string
	for _, t := range tokens {
		if l := familyLock(t); l != "" {
			locks = append(locks, l)
		}
	}
	if len(locks) == 0 {
		return nil
	}
	if err := s.flavor.Lock(ctx, tx, locks...); err != nil {
		return fmt.Errorf("taking the locks of %d token families: %w", len(locks), err)
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
