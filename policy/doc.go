// Package policy is the gateway's access rule engine: given an
// authenticated [Identity] and the [Request] it makes, a compiled [Policy]
// answers allowed or not, and why, as a [Decision] that names the rule that
// decided.
//
// A policy has requirements (every listed scope, one of the listed
// audiences, and a sign-in with a second factor) and ordered allow/deny [Rule]s matching on the subject, groups,
// client, scopes, audience, claim values, or a CEL expression
// (https://cel.dev) over the identity and the request. Deny wins over allow
// whatever the order, and once any allow rule is set, an identity that no
// allow rule matches is denied.
//
// For MCP servers, the request also carries the JSON-RPC method and, for a
// "tools/call", the tool's name: [KindTool] rules allow or deny tools by
// name or "*" pattern, [Requirements.Tools] requires scopes for some tools
// (an insufficient_scope answer names the scopes the call needs, so a
// client can step up), and expressions read mcp.method and mcp.tool. Tool
// rules and tool scopes apply to tools/call only, so an allowlist of tools
// never refuses the rest of the protocol (initialize, tools/list,
// notifications). [Compile] checks a [Config] and compiles its
// expressions once, at provision time; [Policy.Evaluate] then runs on every
// protected request without compiling or locking.
//
// The package owns only the decision. It does not authenticate, knows no
// configuration format, writes no responses and logs nothing: the caller
// turns a [Decision] into 401, 403 (with error="insufficient_scope" and the
// missing scopes, RFC 6750 §3.1), a step-up for [ReasonMFARequired]
// (RFC 9470) or a pass to the upstream, and logs
// [Policy.Rule] for the rule that decided.
//
// It imports nothing from this module. Package caddymodule compiles each
// gateway's Config from its require, allow and deny options, and package
// gateway (caddymodule/gateway) evaluates it on every request.
package policy
