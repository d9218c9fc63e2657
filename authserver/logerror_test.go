package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/authgate/authserver/store"
)

// TestLogError: a failed request is logged once, with its error code as
// "code" (not a second "error" field beside the cause), at Error; at Warn
// when the store is away; at Debug when the client went away mid-request.
func TestLogError(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s := &Server{logger: zap.New(core)}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name  string
		ctx   context.Context
		cause error
		level zapcore.Level
	}{
		{"internal failure", context.Background(), errors.New("disk on fire"), zapcore.ErrorLevel},
		{"store away", context.Background(), fmt.Errorf("reading: %w", store.ErrUnavailable), zapcore.WarnLevel},
		{"client gone", gone, fmt.Errorf("storing: %w", context.Canceled), zapcore.DebugLevel},
		{"cancelled while the client is still there", context.Background(), context.Canceled, zapcore.ErrorLevel},
	} {
		r := httptest.NewRequest("POST", "/token", nil).WithContext(tt.ctx)
		s.logError(r, serverError(tt.cause))
		entries := logs.TakeAll()
		if len(entries) != 1 {
			t.Fatalf("%s: %d entries; want 1", tt.name, len(entries))
		}
		e := entries[0]
		if e.Level != tt.level {
			t.Errorf("%s: level %v; want %v", tt.name, e.Level, tt.level)
		}
		keys := map[string]int{}
		for _, f := range e.Context {
			keys[f.Key]++
		}
		if keys["code"] != 1 || keys["error"] != 1 {
			t.Errorf("%s: fields %v; want one code and one error", tt.name, keys)
		}
	}
}
