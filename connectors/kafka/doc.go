// Package kafka is the "kafka" connector kind: systems already on Kafka
// join the hub through it. A source consumes any topic of JSON values
// (keys, headers, timestamps; from the earliest or latest offset; its
// position is the hub's cursor, optionally committed to a consumer group
// for the cluster's lag tools) and hands the records to their inbound
// mapping; a sink produces mapped records to any topic (key from a field
// or the hub id, headers, the idempotent producer), so analytics or a
// warehouse can take canonical records from the hub.
//
// The package owns the kind's settings (config.go), the clients and
// checks (conn.go), the consuming side (source.go, cursor.go) and the
// producing side (sink.go). It talks Kafka through franz-go.
package kafka
