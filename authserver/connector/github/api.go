package github

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// team is a team the person belongs to.
type team struct{ org, slug string }

// memberships returns the logins of the person's organisations and their
// teams, reading at most maxPages pages of each. The organisation of each
// team counts as one of theirs even when GET /user/orgs leaves it out.
func (c *Connector) memberships(ctx context.Context, token string) (orgs []string, teams []team, err error) {
	seen := map[string]bool{}
	addOrg := func(login string) {
		if login != "" && !seen[strings.ToLower(login)] {
			seen[strings.ToLower(login)] = true
			orgs = append(orgs, login)
		}
	}
	err = c.pages(ctx, token, "/user/orgs", func(body []byte) error {
		var page []struct {
			Login string `json:"login"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return err
		}
		for _, o := range page {
			addOrg(o.Login)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var teamOrgs []string
	err = c.pages(ctx, token, "/user/teams", func(body []byte) error {
		var page []struct {
			Slug         string `json:"slug"`
			Organization struct {
				Login string `json:"login"`
			} `json:"organization"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return err
		}
		for _, t := range page {
			if t.Slug != "" && t.Organization.Login != "" {
				teams = append(teams, team{org: t.Organization.Login, slug: t.Slug})
				teamOrgs = append(teamOrgs, t.Organization.Login)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, o := range teamOrgs {
		addOrg(o)
	}
	return orgs, teams, nil
}

// pages GETs endpoint (a path under the API URL) and then the pages its
// Link headers name as next, at most maxPages in all, handing each body
// to decode.
func (c *Connector) pages(ctx context.Context, token, endpoint string, decode func([]byte) error) error {
	next := c.apiURL + endpoint + "?per_page=" + strconv.Itoa(perPage)
	for i := 0; i < maxPages && next != ""; i++ {
		var raw json.RawMessage
		var err error
		if next, err = c.get(ctx, token, endpoint, next, &raw); err != nil {
			return err
		}
		if err := decode(raw); err != nil {
			return fmt.Errorf("github: GET %s: decoding the answer: %w", endpoint, err)
		}
	}
	return nil
}

// get GETs rawURL from the REST API with token, decodes the JSON answer
// into v and returns the URL of the next page, if any. endpoint names the
// request in errors, which never carry the token or the answer's body.
func (c *Connector) get(ctx context.Context, token, endpoint, rawURL string, v any) (next string, err error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", fmt.Errorf("github: GET %s: %w", endpoint, err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", apiVersion)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.client.Do(req)
	if err != nil {
		// *url.Error names the URL, which carries no secret.
		return "", fmt.Errorf("github: GET %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("github: GET %s answered %s", endpoint, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return "", fmt.Errorf("github: GET %s: reading the answer: %w", endpoint, err)
	}
	if len(body) > maxResponseBytes {
		return "", fmt.Errorf("github: GET %s: the answer is larger than %d bytes", endpoint, maxResponseBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return "", fmt.Errorf("github: GET %s: decoding the answer: %w", endpoint, err)
	}
	next, err = c.nextLink(resp)
	if err != nil {
		return "", fmt.Errorf("github: GET %s: %w", endpoint, err)
	}
	return next, nil
}

// nextLink returns the rel="next" URL of the answer's Link headers (RFC
// 8288), resolved against the request's URL, or "" when there is none.
// A next page elsewhere than the API's scheme and host is an error: the
// token is not sent there.
func (c *Connector) nextLink(resp *http.Response) (string, error) {
	for _, header := range resp.Header.Values("Link") {
		for _, link := range strings.Split(header, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
			target = strings.TrimSpace(target)
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			if !isNext(params) {
				continue
			}
			u, err := resp.Request.URL.Parse(target[1 : len(target)-1])
			if err != nil {
				return "", fmt.Errorf("the next page's link is not a URL: %w", err)
			}
			if u.Scheme != c.apiOrigin.Scheme || u.Host != c.apiOrigin.Host {
				return "", fmt.Errorf("the next page is on another host (%s)", (&url.URL{Scheme: u.Scheme, Host: u.Host}).String())
			}
			return u.String(), nil
		}
	}
	return "", nil
}

// isNext reports whether a link's parameters (after its target) hold
// rel="next" (rel may list several relation types).
func isNext(params string) bool {
	for _, p := range strings.Split(params, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
			continue
		}
		for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(value), `"`)) {
			if strings.EqualFold(rel, "next") {
				return true
			}
		}
	}
	return false
}
