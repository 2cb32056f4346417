package mapping

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

// An expression runs within a budget per record, so that a mapping can
// neither crash the hub nor pin it: expr bounds the memory of the arrays
// and maps it builds, and the hub adds what it does not bound.
//
//   - Time: every evaluation of a predicate (the body of filter, map, all,
//     any, count, ...) is a step; a record may take maxExprSteps of them
//     and maxExprTime in all. Without predicates an expression of at most
//     maxExprNodes nodes does bounded work.
//   - Memory of strings: + on strings and repeat() may build a string of
//     at most maxExprString bytes, and maxExprBytes in all per record.
//
// Going over is an error of the field being mapped, like any other.
const (
	maxExprSteps  = 2_000_000
	maxExprTime   = time.Second
	maxExprString = 1 << 20
	maxExprBytes  = 16 << 20
)

// exprBudget is one record's budget; it sits in every expression's
// environment as budgetVar.
type exprBudget struct {
	steps    int
	bytes    int
	deadline time.Time
}

const budgetVar = "__budget"

var errOverBudget = errors.New("over budget")

func newExprBudget() *exprBudget { return &exprBudget{deadline: time.Now().Add(maxExprTime)} }

func (b *exprBudget) step() error {
	b.steps++
	if b.steps > maxExprSteps {
		return fmt.Errorf("%w: more than %d steps of filter, map, all and the like for one record", errOverBudget, maxExprSteps)
	}
	if b.steps%1024 == 0 && time.Now().After(b.deadline) {
		return fmt.Errorf("%w: the record's expressions ran longer than %s", errOverBudget, maxExprTime)
	}
	return nil
}

func (b *exprBudget) grow(n int) error {
	if n > maxExprString {
		return fmt.Errorf("%w: a string of %d bytes (at most %d)", errOverBudget, n, maxExprString)
	}
	b.bytes += n
	if b.bytes > maxExprBytes {
		return fmt.Errorf("%w: the record's expressions built more than %d bytes of strings", errOverBudget, maxExprBytes)
	}
	return nil
}

// budgetOf finds the budget an expression function was handed.
func budgetOf(v any) (*exprBudget, error) {
	b, ok := v.(*exprBudget)
	if !ok {
		return nil, errors.New("internal: expression budget missing")
	}
	return b, nil
}

// budgetOptions are the compile options that put expressions on the budget:
// predicate bodies tick, + goes through a bounded add, repeat is bounded.
func budgetOptions() []expr.Option {
	return []expr.Option{
		expr.Patch(budgetPatcher{}),
		expr.DisableBuiltin("repeat"),
		expr.Function("__tick", func(params ...any) (any, error) {
			b, err := budgetOf(params[0])
			if err != nil {
				return nil, err
			}
			if err := b.step(); err != nil {
				return nil, err
			}
			return params[1], nil
		}),
		expr.Function("__add", func(params ...any) (any, error) {
			x, y := params[1], params[2]
			if xs, ok := x.(string); ok {
				if ys, ok := y.(string); ok {
					b, err := budgetOf(params[0])
					if err != nil {
						return nil, err
					}
					if err := b.grow(len(xs) + len(ys)); err != nil {
						return nil, err
					}
					return xs + ys, nil
				}
			}
			return runtime.Add(x, y), nil
		}),
		expr.Function("repeat", func(params ...any) (any, error) {
			b, err := budgetOf(params[0])
			if err != nil {
				return nil, err
			}
			s, ok := params[1].(string)
			if !ok {
				return nil, fmt.Errorf("repeat: %T is not a string", params[1])
			}
			n, ok := params[2].(int)
			if !ok || n < 0 {
				return nil, fmt.Errorf("repeat: count %v is not a non-negative integer", params[2])
			}
			if n > 0 && len(s) > maxExprString/n {
				return nil, fmt.Errorf("%w: repeat would build %d×%d bytes", errOverBudget, len(s), n)
			}
			if err := b.grow(len(s) * n); err != nil {
				return nil, err
			}
			return strings.Repeat(s, n), nil
		}),
	}
}

// budgetPatcher rewrites an expression onto the budget: a predicate body P
// becomes __tick(__budget, P), a + b becomes __add(__budget, a, b), and
// repeat(s, n) becomes repeat(__budget, s, n).
type budgetPatcher struct{}

func (budgetPatcher) Visit(node *ast.Node) {
	budget := func() ast.Node { return &ast.IdentifierNode{Value: budgetVar} }
	switch n := (*node).(type) {
	case *ast.PredicateNode:
		n.Node = &ast.CallNode{Callee: &ast.IdentifierNode{Value: "__tick"}, Arguments: []ast.Node{budget(), n.Node}}
	case *ast.BinaryNode:
		if n.Operator == "+" {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: "__add"}, Arguments: []ast.Node{budget(), n.Left, n.Right}})
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == "repeat" && len(n.Arguments) == 2 {
			n.Arguments = append([]ast.Node{budget()}, n.Arguments...)
		}
	}
}
