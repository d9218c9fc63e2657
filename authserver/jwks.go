package authserver

import "net/http"

// handleJWKS publishes the public signing keys (RFC 7517 §5).
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, s.cfg.Keys.PublicKeys())
}
