package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
)

// resourceMetadataURL is where this resource's RFC 9728 metadata lives.
func (g *Gateway) resourceMetadataURL(r *Request) string {
	return r.canonicalOrigin() + WellKnownPath + g.cfg.ResourcePath
}

// Registry holds the gateways of a configuration by resource path, so
// that whichever gateway a metadata request reaches can answer it.
type Registry struct {
	mu sync.RWMutex
	by map[string]*Gateway
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{by: map[string]*Gateway{}} }

func (reg *Registry) add(path string, g *Gateway) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if old, ok := reg.by[path]; !ok || !old.cfg.AcceptBearer {
		reg.by[path] = g
	}
}

func (reg *Registry) remove(path string, g *Gateway) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.by[path] == g {
		delete(reg.by, path)
	}
}

func (reg *Registry) lookup(path string) (*Gateway, bool) {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	g, ok := reg.by[path]
	return g, ok
}

// metadata answers a metadata request for this gateway's resource, or
// another's in the registry.
func (g *Gateway) metadata(r *Request) (Decision, bool) {
	suffix := strings.TrimPrefix(r.Path, WellKnownPath)
	if !g.hosts.Load().Allows(r.Host, r.Scheme, r.LocalPort) {
		// No resource of this configuration lives at a host it does not
		// name; a shared cache must not keep a document made from a
		// forged Host.
		b, _ := json.Marshal(map[string]string{"error": "not_found", "error_description": "no protected resource at this host"})
		return respond(http.StatusNotFound, "application/json", b), true
	}
	// The registry prefers a gateway that takes bearer tokens, whose
	// metadata (scopes) matter to API clients.
	target, ok := (*Gateway)(nil), false
	if g.cfg.Registry != nil {
		target, ok = g.cfg.Registry.lookup(suffix)
	}
	if !ok {
		if suffix != g.cfg.ResourcePath {
			if suffix == "" {
				return Decision{}, false
			}
			// RFC 9728 §3: no such protected resource.
			b, _ := json.Marshal(map[string]string{"error": "not_found", "error_description": "no protected resource at this path"})
			return respond(http.StatusNotFound, "application/json", b), true
		}
		target = g
	}
	doc := map[string]any{
		"resource":                 r.canonicalOrigin() + target.cfg.ResourcePath,
		"authorization_servers":    target.cfg.AuthorizationServers,
		"bearer_methods_supported": []string{"header"},
	}
	if len(target.cfg.ScopesSupported) > 0 {
		doc["scopes_supported"] = target.cfg.ScopesSupported
	}
	b, _ := json.Marshal(doc)
	d := respond(http.StatusOK, "application/json", b)
	d.Header.Set("Cache-Control", "public, max-age=300")
	d.Header.Set("Access-Control-Allow-Origin", "*")
	return d, true
}
