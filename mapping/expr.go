package mapping

import (
	"fmt"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Expressions are github.com/expr-lang/expr programs, compiled once at
// load. Their variables are the current object's members (the record, or
// the element inside each:), plus `root` (the whole record) and `value`
// (the value being transformed, in an expr: transform). Expressions are
// sandboxed by expr itself: no I/O, no reflection on our types, bounded
// size.

const maxExprNodes = 2000

// compileExpr compiles an expression; a plan with expressions decodes
// whole records, since an expression may read anything.
func (c *compiler) compileExpr(src string, wantBool bool) (*vm.Program, error) {
	c.usesExpr = true
	if c.top != "" {
		if c.readsAll == nil {
			c.reads, c.readsAll = map[string]map[string]bool{}, map[string]bool{}
		}
		c.readsAll[c.top] = true
	}
	opts := []expr.Option{
		// No expr.Env: record fields are only known at run time, so
		// types are checked then (a failure is a field error).
		expr.AllowUndefinedVariables(),
		expr.MaxNodes(maxExprNodes),
	}
	opts = append(opts, budgetOptions()...)
	if wantBool {
		opts = append(opts, expr.AsBool())
	}
	return expr.Compile(src, opts...)
}

// envFor builds (once per scope) the expression variables.
func (sc *scope) envFor(value Value) map[string]any {
	if sc.env == nil {
		env := make(map[string]any, sc.cur.Len()+2)
		r := sc.rootScope()
		if !r.rootAnyDone {
			// Converted once per record and shared by every scope, so a
			// long array with expressions stays linear.
			r.rootAny, r.rootAnyDone = sc.root.Any(), true
		}
		if m, ok := r.rootAny.(map[string]any); ok && sc == r {
			// The record's own scope: its members are root's, already
			// converted (expressions only read them).
			for k, v := range m {
				env[k] = v
			}
		} else if sc.cur.kind == Object {
			for i := len(sc.cur.a) - 2; i >= 0; i -= 2 { // backwards: the first of a name counts, as for Get
				env[sc.cur.a[i].s] = sc.cur.a[i+1].Any()
			}
		}
		env["root"] = r.rootAny
		if r.budget == nil {
			r.budget = newExprBudget()
		}
		env[budgetVar] = r.budget
		sc.env = env
	}
	sc.env["value"] = value.Any()
	return sc.env
}

func (sc *scope) run(p *vm.Program, value Value) (any, error) {
	out, err := expr.Run(p, sc.envFor(value))
	if err != nil {
		return nil, fmt.Errorf("expression failed: %s", oneLine(err))
	}
	return out, nil
}

func (sc *scope) evalBool(p *vm.Program, value Value) (bool, error) {
	out, err := sc.run(p, value)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("condition gave %T, not a boolean", out)
	}
	return b, nil
}

func (sc *scope) evalValue(p *vm.Program, value Value) (Value, error) {
	out, err := sc.run(p, value)
	if err != nil {
		return nullValue, err
	}
	v, ok := FromAny(out)
	if !ok {
		return nullValue, fmt.Errorf("expression gave %T, which has no JSON form", out)
	}
	return v, nil
}
