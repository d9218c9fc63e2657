package authserver

import "strings"

// Endpoint names for the endpoints with a name in their path.
const (
	endpointClientConfiguration = pathRegister + "/{client_id}"
	endpointProviderLogin       = pathLogin + "/{provider}"
	endpointProviderCallback    = pathLogin + "/{provider}/callback"
)

// EndpointName names the endpoint that serves a request path, for
// metrics: its path below the issuer ("/token", "/" for the landing
// page), with the name in the path replaced for the endpoints that have
// one ("/register/{client_id}", "/login/{provider}",
// "/login/{provider}/callback"); "other" for a path that is none of the
// server's endpoints. What a client puts in the path never becomes a
// name, so the names are as few as the endpoints.
func (s *Server) EndpointName(path string) string {
	rel, ok := s.relPath(path)
	if !ok {
		return "other"
	}
	if _, ok := s.routes[rel]; ok {
		return rel
	}
	if id, ok := strings.CutPrefix(rel, pathRegister+"/"); ok && id != "" && !strings.Contains(id, "/") {
		return endpointClientConfiguration
	}
	if rest, ok := strings.CutPrefix(rel, pathLogin+"/"); ok {
		name, callback := strings.CutSuffix(rest, "/callback")
		if _, known := s.provider(name); known {
			if callback {
				return endpointProviderCallback
			}
			return endpointProviderLogin
		}
	}
	return "other"
}

// relPath is a request path below the issuer's path, without a trailing
// slash, if it is there: the landing page for the issuer's own path, and
// the RFC 8414 metadata where §3.1 puts it for an issuer with a path.
func (s *Server) relPath(path string) (string, bool) {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	switch {
	case path == s.prefix || path == "/" && s.prefix == "":
		return pathLanding, true
	case s.prefix != "" && path == pathASMetadata+s.prefix:
		return pathASMetadata, true
	case strings.HasPrefix(path, s.prefix+"/"):
		return path[len(s.prefix):], true
	}
	return "", false
}
