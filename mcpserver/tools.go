package mcpserver

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"
)

// toolTimeout bounds one tool call, whatever the authorization server
// does.
const toolTimeout = 30 * time.Second

// Error codes of failures that are not the authorization server's answer.
const (
	// errUnavailable: the authorization server could not be reached, or
	// answered with something that is not OAuth.
	errUnavailable = "temporarily_unavailable"
	// errInvalidRequest: the arguments do not make a request.
	errInvalidRequest = "invalid_request"
	// errServer: the tool itself failed.
	errServer = "server_error"
)

// toolError is an OAuth error answer (RFC 6749 §5.2, RFC 7591 §3.2.2), or
// a failure to get one, as a tool reports it.
type toolError struct {
	Code        string
	Description string
	URI         string
	RetryAfter  string
}

func (e *toolError) text() string {
	s := e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.RetryAfter != "" {
		s += " (retry after " + e.RetryAfter + " seconds)"
	}
	return s
}

// Failure is the part of every tool's output that a failed call fills
// in, beside isError: the OAuth error (RFC 6749 §5.2).
type Failure struct {
	Error            string `json:"error,omitempty" jsonschema:"When the call failed: the OAuth error code, such as invalid_client, invalid_grant or invalid_scope (RFC 6749 §5.2), invalid_redirect_uri or invalid_client_metadata (RFC 7591), or temporarily_unavailable when the authorization server could not be reached."`
	ErrorDescription string `json:"error_description,omitempty" jsonschema:"When the call failed: what went wrong, in words."`
	ErrorURI         string `json:"error_uri,omitempty" jsonschema:"When the call failed: a page about the error, if the server gave one."`
	RetryAfter       string `json:"retry_after,omitempty" jsonschema:"When the server limits the caller: how many seconds to wait before trying again."`
}

func (f *Failure) setFailure(e *toolError) {
	f.Error, f.ErrorDescription, f.ErrorURI, f.RetryAfter = e.Code, e.Description, e.URI, e.RetryAfter
}

// failer is an output with a [Failure].
type failer interface{ setFailure(*toolError) }

// addTools adds the five tools.
func (s *Server) addTools(server *mcp.Server) error {
	no, yes := false, true
	if err := add(s, server, &mcp.Tool{
		Name:        "oauth2_authorize",
		Title:       "Start an OAuth 2.0 authorization (PKCE)",
		Description: authorizeDescription,
		Annotations: &mcp.ToolAnnotations{Title: "Start an OAuth 2.0 authorization", DestructiveHint: &no, OpenWorldHint: &no},
	}, s.authorize, authorizeSchema); err != nil {
		return err
	}
	if err := add(s, server, &mcp.Tool{
		Name:        "oauth2_exchange_token",
		Title:       "Exchange a code or refresh token for tokens",
		Description: exchangeDescription,
		Annotations: &mcp.ToolAnnotations{Title: "Exchange for tokens", DestructiveHint: &no, OpenWorldHint: &no},
	}, s.exchange, exchangeSchema); err != nil {
		return err
	}
	if err := add(s, server, &mcp.Tool{
		Name:        "oauth2_validate_token",
		Title:       "Validate a token",
		Description: validateDescription,
		Annotations: &mcp.ToolAnnotations{Title: "Validate a token", ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: &no},
	}, s.validate, validateSchema); err != nil {
		return err
	}
	if err := add(s, server, &mcp.Tool{
		Name:        "oauth2_revoke_token",
		Title:       "Revoke a token",
		Description: revokeDescription,
		Annotations: &mcp.ToolAnnotations{Title: "Revoke a token", DestructiveHint: &yes, IdempotentHint: true, OpenWorldHint: &no},
	}, s.revoke, revokeSchema); err != nil {
		return err
	}
	return add(s, server, &mcp.Tool{
		Name:        "oauth2_register_client",
		Title:       "Register an OAuth client",
		Description: registerDescription,
		Annotations: &mcp.ToolAnnotations{Title: "Register an OAuth client", DestructiveHint: &no, OpenWorldHint: &no},
	}, s.register, registerSchema)
}

// add adds a tool whose input schema is inferred from In and then refined
// by refine (enums, lengths), and whose output schema is Out's.
func add[In, Out any](s *Server, server *mcp.Server, t *mcp.Tool, h func(context.Context, In) (Out, *toolError), refine func(*jsonschema.Schema)) error {
	in, err := jsonschema.For[In](nil)
	if err != nil {
		return fmt.Errorf("the input schema of %s: %w", t.Name, err)
	}
	refine(in)
	out, err := jsonschema.For[Out](nil)
	if err != nil {
		return fmt.Errorf("the output schema of %s: %w", t.Name, err)
	}
	t.InputSchema, t.OutputSchema = in, out
	mcp.AddTool(server, t, handler(s, t.Name, h))
	return nil
}

// handler turns h into a tool handler: bounded in time, an OAuth failure
// as a result with isError and the error in its structured content, a
// panic as a server_error result (and a log line), and one debug line
// per call with no argument in it.
func handler[In, Out any](s *Server, name string, h func(context.Context, In) (Out, *toolError)) mcp.ToolHandlerFor[In, Out] {
	return func(ctx context.Context, _ *mcp.CallToolRequest, in In) (res *mcp.CallToolResult, out Out, err error) {
		start := time.Now()
		outcome := "ok"
		defer func() {
			if v := recover(); v != nil {
				s.logger.Error("MCP tool failed", zap.String("tool", name), zap.String("panic", fmt.Sprint(v)), zap.ByteString("stack", debug.Stack()))
				var zero Out
				out = zero
				fail := &toolError{Code: errServer, Description: "the tool failed; the server's log says why"}
				res, outcome, err = failed(&out, fail), fail.Code, nil
			}
			s.logger.Debug("MCP tool call", zap.String("tool", name), zap.String("outcome", outcome), zap.Duration("duration", time.Since(start)))
		}()
		ctx, cancel := context.WithTimeout(ctx, toolTimeout)
		defer cancel()
		out, fail := h(ctx, in)
		if fail != nil {
			outcome = fail.Code
			return failed(&out, fail), out, nil
		}
		return nil, out, nil
	}
}

// failed fills in out's Failure and returns the result of a failed call.
func failed[Out any](out *Out, e *toolError) *mcp.CallToolResult {
	if f, ok := any(out).(failer); ok {
		f.setFailure(e)
	}
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: e.text()}}}
}

// Schema refinements shared by the tools.

// maxTokenLength bounds a token argument; the authorization server has
// its own, smaller, limits.
const maxTokenLength = 16 << 10

// setString bounds a string property's length and, with values, makes it
// an enum.
func setString(s *jsonschema.Schema, name string, maxLength int, values ...string) {
	p := s.Properties[name]
	if p == nil {
		panic("mcpserver: no property " + name) // a mistake in this package, found by its tests
	}
	p.MaxLength = &maxLength
	for _, v := range values {
		p.Enum = append(p.Enum, v)
	}
}

// setArray bounds an array property's length and its strings' lengths.
func setArray(s *jsonschema.Schema, name string, maxItems, maxLength int) {
	p := s.Properties[name]
	if p == nil || p.Items == nil {
		panic("mcpserver: no array property " + name)
	}
	p.MaxItems = &maxItems
	p.Items.MaxLength = &maxLength
}
