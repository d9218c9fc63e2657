package authserver

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// DefaultMaxBodyBytes bounds a request body unless the config says
// otherwise.
const DefaultMaxBodyBytes = 64 << 10

// form is a request's parameters, each present at most once except those
// a specification lets repeat.
type form url.Values

// get returns the parameter's value; a parameter sent empty counts as
// absent (RFC 6749 §3.1).
func (f form) get(name string) string {
	if v := f[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// all returns every non-empty value of a parameter that may repeat.
func (f form) all(name string) []string {
	var out []string
	for _, v := range f[name] {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// repeatable lists the parameters that may appear more than once:
// RFC 8707 lets a client name several resources.
var repeatable = map[string]bool{"resource": true}

// parsePostForm reads an application/x-www-form-urlencoded body of at most
// max bytes. It refuses other content types, oversized bodies, malformed
// encoding and repeated parameters (RFC 6749 §3.1, §3.2). Parameters in
// the query string are ignored: credentials and grants belong in the body.
func parsePostForm(w http.ResponseWriter, r *http.Request, max int64) (form, *Error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("the request body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &Error{Code: codeInvalidRequest, Description: fmt.Sprintf("the request body is larger than %d bytes", max), Status: http.StatusRequestEntityTooLarge}
		}
		return nil, invalidRequest("the request body could not be read")
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidRequest("the request body is not valid form encoding")
	}
	if name, ok := repeatedParam(values); ok {
		return nil, invalidRequest("parameter " + name + " is repeated")
	}
	return form(values), nil
}

// repeatedParam finds a parameter sent with more than one non-empty value
// that may not repeat. The name it returns is safe to quote in an
// error_description (RFC 6749 §5.2's character set), or "a parameter".
func repeatedParam(values url.Values) (string, bool) {
	for name, vs := range values {
		if repeatable[name] {
			continue
		}
		n := 0
		for _, v := range vs {
			if v != "" {
				n++
			}
		}
		if n > 1 {
			if len(name) > 64 {
				return "a parameter", true
			}
			if _, ok := parseScope(name); !ok {
				name = "a parameter"
			}
			return name, true
		}
	}
	return "", false
}
