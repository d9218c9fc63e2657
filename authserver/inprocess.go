package authserver

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// ServeInProcess hands a request to h in this process, with no network,
// and returns h's answer as the response to orig, the request a client
// made. It is the core of the in-process transports that reach this
// server (the gateway's sign-in client, the MCP tools); each prepares in
// as it must (its context, its remote address) before calling it.
func ServeInProcess(h http.Handler, in, orig *http.Request) *http.Response {
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := &responseRecorder{header: http.Header{}, status: http.StatusOK}
	h.ServeHTTP(rec, in)
	return &http.Response{
		Status: fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status)), StatusCode: rec.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: rec.header,
		Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())), ContentLength: int64(rec.body.Len()), Request: orig,
	}
}

// responseRecorder collects a response in memory.
type responseRecorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header { return r.header }

func (r *responseRecorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
