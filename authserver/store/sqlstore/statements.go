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
	prepared map[string]*sql.Stmt
}

// stmt returns the prepared form of the generic query q, preparing it on
// first use. Within a transaction, use tx.StmtContext on it.
func (s *Store) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if st, ok := s.stmts.prepared[q]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, s.q(q))
	if err != nil {
		return nil, fmt.Errorf("preparing a query: %w", err)
	}
	if s.stmts.prepared == nil {
		s.stmts.prepared = map[string]*sql.Stmt{}
	}
	s.stmts.prepared[q] = st
	return st, nil
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
