package policy_test

import (
	"fmt"

	"github.com/authgate/authgate/policy"
)

func Example() {
	p, err := policy.Compile(policy.Config{
		Require: policy.Requirements{Scopes: []string{"read:api"}},
		Rules: []policy.Rule{
			{Effect: policy.Allow, Kind: policy.KindGroup, Values: []string{"admins"}},
			{Effect: policy.Allow, Kind: policy.KindExpression, Expression: `request.method == "GET" && claims.email_verified == true`},
			{Effect: policy.Deny, Kind: policy.KindUser, Values: []string{"mallory"}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	get := policy.Request{Method: "GET", Path: "/api/items", Host: "app.example.com", RemoteIP: "192.0.2.1"}

	for _, id := range []policy.Identity{
		{Subject: "alice", Scopes: []string{"read:api"}, Groups: []string{"admins"}, Auth: policy.AuthBearer},
		{Subject: "bob", Scopes: []string{"read:api"}, Claims: map[string]any{"email_verified": true}, Auth: policy.AuthBearer},
		{Subject: "mallory", Scopes: []string{"read:api"}, Groups: []string{"admins"}, Auth: policy.AuthBearer},
		{Subject: "carol", Auth: policy.AuthBearer},
		{Subject: "dave", Scopes: []string{"read:api"}, Claims: map[string]any{"email_verified": false}, Auth: policy.AuthBearer},
	} {
		d := p.Evaluate(id, get)
		fmt.Printf("%s: %v, %s", id.Subject, d.Allowed, d.Reason)
		if rule, ok := p.Rule(d.Rule); ok {
			fmt.Printf(" by %s", rule)
		}
		if d.MissingScopes != nil {
			fmt.Printf(" %q", d.MissingScopes)
		}
		fmt.Println()
	}
	// Output:
	// alice: true, allowed by allow group admins
	// bob: true, allowed by allow expression "request.method == \"GET\" && claims.email_verified == true"
	// mallory: false, denied by deny user mallory
	// carol: false, insufficient_scope ["read:api"]
	// dave: false, no_allow_matched
}
