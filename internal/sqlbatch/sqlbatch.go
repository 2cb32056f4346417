// Package sqlbatch sizes the statements that carry one placeholder per row
// or per key (multi-row inserts, IN lists), for the state store and the
// SQL connector alike.
//
// Such a statement has a text of its own for every count. A database that
// prepares a statement per text and keeps it (pgx keeps up to 512 a
// connection, in the hub and in PostgreSQL's session; the state store
// keeps its own) then holds one statement per batch size it ever met, and
// parses every new size again. Sized here, the texts are few and known: a
// multi-row statement is split into full chunks and powers of two, an IN
// list padded up to a power of two (a repeated key changes no answer).
package sqlbatch

// Chunks splits n rows, at most per to a statement, into sizes with few
// distinct values: as many full chunks of per as fit, then the rest as
// powers of two, largest first.
func Chunks(n, per int) []int {
	out, n := full(n, per)
	for p := 1 << 30; n > 0; p >>= 1 {
		if n >= p {
			out = append(out, p)
			n -= p
		}
	}
	return out
}

// Fixed splits n rows, at most per to a statement, into full chunks of
// per and the rest: for drivers that keep no statements, where the count
// of texts does not matter.
func Fixed(n, per int) []int {
	out, n := full(n, per)
	if n > 0 {
		out = append(out, n)
	}
	return out
}

// full is as many chunks of per (at least 1) as fit in n, and what is left.
func full(n, per int) ([]int, int) {
	per = max(1, per)
	var out []int
	for ; n >= per; n -= per {
		out = append(out, per)
	}
	return out, n
}

// AppendIn appends the arguments of an IN list of keys to args: the keys,
// then the last key again up to InSize(len(keys)). Nothing for no keys.
func AppendIn[T any](args []any, keys []T) []any {
	if len(keys) == 0 {
		return args
	}
	for i := range InSize(len(keys)) {
		args = append(args, keys[min(i, len(keys)-1)])
	}
	return args
}

// InSize is how many placeholders an IN list of n keys gets: the next
// power of two, at least 8.
func InSize(n int) int {
	size := 8
	for size < n {
		size *= 2
	}
	return size
}
