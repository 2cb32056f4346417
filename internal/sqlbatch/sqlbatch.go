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
	per = max(1, per)
	var out []int
	for ; n >= per; n -= per {
		out = append(out, per)
	}
	for p := 1 << 30; n > 0; p >>= 1 {
		if n >= p {
			out = append(out, p)
			n -= p
		}
	}
	return out
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
