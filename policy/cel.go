package policy

import (
	"errors"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
)

// CEL variable names, as documented on [Compile]. The request's are
// qualified names, so a misspelt field such as request.methd is caught
// when compiling, not when evaluating.
const (
	varSub      = "sub"
	varClientID = "client_id"
	varEmail    = "email"
	varName     = "name"
	varScopes   = "scopes"
	varGroups   = "groups"
	varAud      = "aud"
	varClaims   = "claims"
	varAuth     = "auth"
	varAMR      = "amr"
	varACR      = "acr"
	varMethod   = "request.method"
	varPath     = "request.path"
	varHost     = "request.host"
	varRemoteIP = "request.remote_ip"
	varMCPMeth  = "mcp.method"
	varMCPTool  = "mcp.tool"
)

// varList lists the variables for error messages.
const varList = varSub + ", " + varClientID + ", " + varEmail + ", " + varName + ", " +
	varScopes + ", " + varGroups + ", " + varAud + ", " + varClaims + ", " + varAuth + ", " + varAMR + ", " + varACR + ", " +
	varMethod + ", " + varPath + ", " + varHost + ", " + varRemoteIP + ", " + varMCPMeth + ", " + varMCPTool

// newEnv returns the environment expressions compile in.
func newEnv() (*cel.Env, error) {
	listOfStrings := cel.ListType(cel.StringType)
	return cel.NewEnv(
		cel.Variable(varSub, cel.StringType),
		cel.Variable(varClientID, cel.StringType),
		cel.Variable(varEmail, cel.StringType),
		cel.Variable(varName, cel.StringType),
		cel.Variable(varScopes, listOfStrings),
		cel.Variable(varGroups, listOfStrings),
		cel.Variable(varAud, listOfStrings),
		cel.Variable(varClaims, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(varAuth, cel.StringType),
		cel.Variable(varAMR, listOfStrings),
		cel.Variable(varACR, cel.StringType),
		cel.Variable(varMethod, cel.StringType),
		cel.Variable(varPath, cel.StringType),
		cel.Variable(varHost, cel.StringType),
		cel.Variable(varRemoteIP, cel.StringType),
		cel.Variable(varMCPMeth, cel.StringType),
		cel.Variable(varMCPTool, cel.StringType),
		// claims.level >= 2 must work although JSON numbers are doubles.
		cel.CrossTypeNumericComparisons(true),
		// Reject bad regular expressions and the like at compile time.
		cel.ExtendedValidations(),
		ext.Strings(),
		ext.Sets(),
		ext.Network(),
	)
}

// compileExpression compiles a boolean expression into a program that
// evaluates without a context and within MaxExpressionCost, and reports
// whether it reads mcp.method or mcp.tool.
func compileExpression(env *cel.Env, expr string) (prg cel.Program, readsMCP bool, _ error) {
	if expr == "" {
		return nil, false, errors.New("empty expression")
	}
	ast, iss := env.Compile(expr)
	if err := iss.Err(); err != nil {
		if strings.Contains(err.Error(), "undeclared reference") {
			return nil, false, fmt.Errorf("invalid expression: %w\n(the variables are %s)", err, varList)
		}
		return nil, false, fmt.Errorf("invalid expression: %w", err)
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) {
		return nil, false, fmt.Errorf("expression has type %s, not bool (compare explicitly, as in claims.admin == true)", t)
	}
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Name == varMCPMeth || ref.Name == varMCPTool {
			readsMCP = true
		}
	}
	prg, err := env.Program(ast,
		cel.EvalOptions(cel.OptOptimize),
		cel.CostLimit(MaxExpressionCost),
	)
	if err != nil {
		return nil, false, fmt.Errorf("preparing expression: %w", err)
	}
	return prg, readsMCP, nil
}

// eval evaluates an expression rule. Any failure is an error, which the
// caller treats as fail-closed.
func (r *compiledRule) eval(act *activation) (bool, error) {
	out, _, err := r.prg.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression returned %s, not bool", out.Type())
	}
	return bool(b), nil
}

// activation supplies the CEL variables of one evaluation. Values are
// converted only when an expression reads them.
type activation struct {
	id      Identity
	req     Request
	adapter types.Adapter
}

// newActivation copies id and req into a new activation, so that taking
// their addresses in Evaluate does not move them to the heap.
func (p *Policy) newActivation(id *Identity, req *Request) *activation {
	return &activation{id: *id, req: *req, adapter: p.adapter}
}

// ResolveName implements [cel.Activation].
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varSub:
		return types.String(a.id.Subject), true
	case varClientID:
		return types.String(a.id.ClientID), true
	case varEmail:
		return types.String(a.id.Email), true
	case varName:
		return types.String(a.id.Name), true
	case varScopes:
		return types.NewStringList(a.adapter, a.id.Scopes), true
	case varGroups:
		return types.NewStringList(a.adapter, a.id.Groups), true
	case varAud:
		return types.NewStringList(a.adapter, a.id.Audience), true
	case varClaims:
		return types.NewStringInterfaceMap(a.adapter, a.id.Claims), true
	case varAuth:
		return types.String(a.id.Auth), true
	case varAMR:
		return types.NewStringList(a.adapter, a.id.AMR), true
	case varACR:
		return types.String(a.id.ACR), true
	case varMethod:
		return types.String(a.req.Method), true
	case varPath:
		return types.String(a.req.Path), true
	case varHost:
		return types.String(a.req.Host), true
	case varRemoteIP:
		return types.String(a.req.RemoteIP), true
	case varMCPMeth:
		return types.String(a.req.MCPMethod), true
	case varMCPTool:
		return types.String(a.req.MCPTool), true
	}
	return nil, false
}

// Parent implements [cel.Activation]; there is none.
func (a *activation) Parent() cel.Activation { return nil }

var (
	_ cel.Activation = (*activation)(nil)
)
