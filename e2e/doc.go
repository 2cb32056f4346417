// Package e2e holds end-to-end tests that build the real hub binary and
// drive it as an operator would: CRM databases (PostgreSQL, SQLite) synced to
// ERP interface tables (PostgreSQL, MariaDB, SQLite) through the embedded or
// a separate broker, with the hub, the broker and the target database
// killed, restarted or cut off mid-stream. Every test checks the final state
// of every system record by record.
//
// PostgreSQL and MariaDB come from HUB_TEST_POSTGRES_DSN and
// HUB_TEST_MYSQL_DSN; without them those cases are skipped (or fail with
// HUB_REQUIRE_SERVICES=1). HUB_E2E_RACE=0 builds the binary without the race
// detector (faster, for local iteration); HUB_E2E_LOG_DIR=DIR keeps every
// process's whole output there.
//
// The package has no non-test code and imports nothing of the hub but
// store/storetest and the shop stand-ins of internal/shoptest: it sees the
// hub only as a binary, its config, its databases and its HTTP endpoints.
package e2e
