package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// statements keeps the hot queries prepared: the token endpoint and
// introspection run them thousands of times a second, and an embedded
// database would otherwise parse each one every time.
type statements struct {
	mu       sync.Mutex
	prepared map[preparedKey]*sql.Stmt
}

// stmt returns the prepared form of the generic query q on the handle
// that reads, preparing it on first use.
func (s *Store) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	return s.prepare(ctx, s.db, q)
}

// writeStmt is stmt on the handle that writes. Within a transaction, use
// tx.StmtContext on it.
func (s *Store) writeStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	return s.prepare(ctx, s.w, q)
}

// writeStmtIn is writeStmt within tx, if tx is not nil; the caller calls
// done when finished with the statement. The query must have been
// prepared when the store opened: a transaction holds the writer's one
// connection, on which nothing else can prepare meanwhile.
func (s *Store) writeStmtIn(ctx context.Context, tx *sql.Tx, q string) (st *sql.Stmt, done func(), err error) {
	st, err = s.writeStmt(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	if tx == nil {
		return st, func() {}, nil
	}
	st = tx.StmtContext(ctx, st)
	return st, func() { st.Close() }, nil
}

func (s *Store) prepare(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	key := preparedKey{db, q}
	if st, ok := s.stmts.prepared[key]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, s.q(q))
	if err != nil {
		return nil, fmt.Errorf("preparing a query: %w", err)
	}
	if s.stmts.prepared == nil {
		s.stmts.prepared = map[preparedKey]*sql.Stmt{}
	}
	s.stmts.prepared[key] = st
	return st, nil
}

// preparedKey names a prepared statement: its handle and generic query.
type preparedKey struct {
	db *sql.DB
	q  string
}

// closeStatements releases the prepared statements.
func (s *Store) closeStatements() {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	for q, st := range s.stmts.prepared {
		st.Close()
		delete(s.stmts.prepared, q)
	}
}
