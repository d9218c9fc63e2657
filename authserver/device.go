package authserver

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authgate/authgate/authserver/store"
	"github.com/authgate/authgate/authserver/ui"
)

// Device grant errors (RFC 8628 §3.5).
const (
	codeAuthorizationPending = "authorization_pending"
	codeSlowDown             = "slow_down"
	codeExpiredToken         = "expired_token"
)

// userCodeAlphabet has no vowels (no words) and no look-alikes (RFC 8628
// §6.1).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

const userCodeLength = 8

// device authorization states.
const (
	devicePending  = "pending"
	deviceApproved = "approved"
	deviceDenied   = "denied"
)

// deviceData is what a device authorization record holds.
type deviceData struct {
	UserCode string   `json:"user_code"`
	Scope    []string `json:"scope"`
	Audience []string `json:"aud"`
	// Interval is the minimum polling interval in seconds; slow_down
	// raises it.
	Interval int64    `json:"interval"`
	LastPoll int64    `json:"last_poll,omitempty"`
	Status   string   `json:"status"`
	AuthTime int64    `json:"auth_time,omitempty"`
	AMR      []string `json:"amr,omitempty"`
}

// userCodeData points from a user code to its device code record.
type userCodeData struct {
	DeviceID string `json:"device_id"`
}

// newUserCode returns a random user code, like BCDF-GHJK when displayed.
func newUserCode() string {
	b := make([]byte, userCodeLength)
	out := make([]byte, userCodeLength)
	rand.Read(b) //nolint:errcheck // never fails
	for i, v := range b {
		// 256 is not a multiple of 20; reject the biased tail.
		for v >= 240 {
			var one [1]byte
			rand.Read(one[:]) //nolint:errcheck
			v = one[0]
		}
		out[i] = userCodeAlphabet[int(v)%len(userCodeAlphabet)]
	}
	return string(out)
}

// normalizeUserCode uppercases a typed code and drops dashes and spaces;
// ok is false if what remains cannot be a user code.
func normalizeUserCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case strings.ContainsRune(userCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == userCodeLength
}

func displayUserCode(c string) string { return c[:4] + "-" + c[4:] }

// handleDeviceCode is the device authorization endpoint (RFC 8628 §3.1).
func (s *Server) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	f, c, ok := s.clientRequest(w, r)
	if !ok {
		return
	}
	if !c.AllowsGrant(GrantDeviceCode) {
		s.writeError(w, r, oauthError(codeUnauthorizedClient, "the client may not use the device grant"))
		return
	}
	scope, e := grantScope(f.get("scope"), c.Scopes)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	aud, e := s.grantAudience(f.all("resource"), c)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	ctx := r.Context()
	now := s.now()
	expires := now.Add(s.cfg.DeviceCodeLifetime)
	deviceCode := "ag_dc_" + randomID(32)
	deviceID := hashID(deviceCode)
	interval := int64(s.cfg.DevicePollInterval / time.Second)
	var userCode string
	for attempt := 0; ; attempt++ {
		userCode = newUserCode()
		link, _ := json.Marshal(userCodeData{DeviceID: deviceID})
		err := s.cfg.Store.CreateToken(ctx, store.Token{
			Kind: store.UserCode, ID: hashID(userCode), ClientID: c.ID, Data: link, IssuedAt: now, ExpiresAt: expires,
		})
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrAlreadyExists) || attempt == 4 {
			s.writeError(w, r, serverError(err))
			return
		}
	}
	data, _ := json.Marshal(deviceData{UserCode: userCode, Scope: scope, Audience: aud, Interval: interval, Status: devicePending})
	err := s.cfg.Store.CreateToken(ctx, store.Token{
		Kind: store.DeviceCode, ID: deviceID, FamilyID: randomID(16), ClientID: c.ID, Data: data, IssuedAt: now, ExpiresAt: expires,
	})
	if err != nil {
		s.writeError(w, r, serverError(err))
		return
	}
	s.emitFrom(r, Event{Name: EventDeviceCode, Outcome: "issued", Client: c.ID})
	verify := s.endpointURL(pathDevice)
	noStore(w)
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               deviceCode,
		"user_code":                 displayUserCode(userCode),
		"verification_uri":          verify,
		"verification_uri_complete": verify + "?" + url.Values{"user_code": {displayUserCode(userCode)}}.Encode(),
		"expires_in":                int64(s.cfg.DeviceCodeLifetime / time.Second),
		"interval":                  interval,
	})
}

// findUserCode resolves a typed user code to its pending device record.
// err says that the store could not answer; found is false and err nil
// for a code that is unknown, expired or no longer pending.
func (s *Server) findUserCode(ctx context.Context, typed string) (rec store.Token, d deviceData, c *Client, found bool, err error) {
	code, ok := normalizeUserCode(typed)
	if !ok {
		return store.Token{}, deviceData{}, nil, false, nil
	}
	now := s.now()
	link, err := s.cfg.Store.GetToken(ctx, store.UserCode, hashID(code))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Token{}, deviceData{}, nil, false, fmt.Errorf("looking up a user code: %w", err)
	}
	var l userCodeData
	if err != nil || !link.Active(now) || json.Unmarshal(link.Data, &l) != nil {
		return store.Token{}, deviceData{}, nil, false, nil
	}
	rec, err = s.cfg.Store.GetToken(ctx, store.DeviceCode, l.DeviceID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Token{}, deviceData{}, nil, false, fmt.Errorf("looking up a device code: %w", err)
	}
	if err != nil || !rec.Active(now) || json.Unmarshal(rec.Data, &d) != nil || d.Status != devicePending {
		return store.Token{}, deviceData{}, nil, false, nil
	}
	c, err = s.lookupClient(ctx, rec.ClientID)
	if err != nil {
		return store.Token{}, deviceData{}, nil, false, fmt.Errorf("looking up a device code's client: %w", err)
	}
	return rec, d, c, c != nil, nil
}

// handleDevice is the verification page (RFC 8628 §3.3): the signed-in
// user enters or confirms the code, sees the client and its scopes, and
// approves or denies.
func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request) {
	sess, user := s.currentSession(r)
	if sess == nil {
		returnTo := s.prefix + pathDevice
		if code := r.URL.Query().Get("user_code"); r.Method != http.MethodPost && code != "" {
			returnTo += "?" + url.Values{"user_code": {code}}.Encode()
		}
		http.Redirect(w, r, s.prefix+pathLogin+"?"+url.Values{"return_to": {returnTo}}.Encode(), http.StatusSeeOther)
		return
	}
	page := func(status int, typed, msg string) {
		s.templates.Render(w, "device", status, ui.Page{
			Title: "Connect a device", Action: s.prefix + pathDevice, CSRFToken: s.csrfToken(w, r),
			UserCode: typed, Error: msg, SignedInAs: user.Username,
		})
	}
	ctx := r.Context()
	if r.Method != http.MethodPost {
		typed := r.URL.Query().Get("user_code")
		if len(typed) > 32 {
			typed = ""
		}
		page(http.StatusOK, typed, "")
		return
	}
	f, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	typed := f.get("user_code")
	if len(typed) > 32 {
		typed = typed[:32]
	}
	ip := s.cfg.ClientIP(r)
	now := s.now()
	if wait, ok := s.deviceLimits.attempt(sess.id, ip, now); !ok {
		page(http.StatusTooManyRequests, typed, "Too many wrong codes. Try again in "+roundUp(wait)+".")
		return
	}
	rec, d, c, found, err := s.findUserCode(ctx, typed)
	if err != nil {
		// Not the user's mistake: the attempt does not count.
		s.deviceLimits.forgive(sess.id, ip, now)
		s.failurePage(w, r, "looking up a user code", err, "The code could not be checked.")
		return
	}
	if !found {
		page(http.StatusBadRequest, typed, "That code is not valid or has expired. Check the code on your device.")
		return
	}
	s.deviceLimits.forgive(sess.id, ip, now)
	if s.needsStepUp(sess, user, nil, c) {
		// The device's client, or the user, needs a second factor: the
		// page comes back with the code once it was given.
		s.stepUp(w, r, sess, user, "", s.prefix+pathDevice+"?"+url.Values{"user_code": {displayUserCode(d.UserCode)}}.Encode())
		return
	}
	switch f.get("decision") {
	case "approve", "deny":
		status := deviceApproved
		if f.get("decision") == "deny" {
			status = deviceDenied
		}
		_, err := s.cfg.Store.UpdateToken(ctx, store.DeviceCode, rec.ID, func(t store.Token) (store.Token, error) {
			var cur deviceData
			if json.Unmarshal(t.Data, &cur) != nil || cur.Status != devicePending {
				return t, errors.New("no longer pending")
			}
			cur.Status, cur.AuthTime, cur.AMR = status, sess.data.AuthTime, sess.data.AMR
			t.Subject = user.ID
			t.Data, _ = json.Marshal(cur)
			return t, nil
		})
		if storeUnavailable(err) {
			s.failurePage(w, r, "recording a device decision", err, "Your decision could not be recorded.")
			return
		}
		if err != nil {
			page(http.StatusBadRequest, "", "That code was already used.")
			return
		}
		msg := "Your device is connected. You can go back to it now."
		if status == deviceDenied {
			msg = "You denied the request. The device will not get access."
		}
		s.emitFrom(r, Event{Name: EventDeviceCode, Outcome: status, Username: user.Username, Subject: user.ID, Client: c.ID})
		s.templates.Render(w, "message", http.StatusOK, ui.Page{Title: "Done", Message: msg})
	default:
		s.templates.Render(w, "device", http.StatusOK, ui.Page{
			Title: "Connect a device", Action: s.prefix + pathDevice, CSRFToken: s.csrfToken(w, r),
			UserCode: displayUserCode(d.UserCode), Client: clientInfo(c, ""), Scopes: scopeInfo(d.Scope), SignedInAs: user.Username,
		})
	}
}
