package config

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/crmhub/hub/internal/redact"
)

// MaxBatchBytes is the largest producer batch the hub allows: Kafka's (and
// the embedded broker's) default message.max.bytes is 1,048,588 and a larger
// batch is refused whole.
const MaxBatchBytes = 1_000_000

// MaxFetchBytes is the largest kafka.consumer.fetch_bytes: each partition
// a sink reads may hold that much at once.
const MaxFetchBytes = 64 << 20

// resolve fills values that depend on other values.
func (c *Config) resolve() {
	// Validation takes these in any case; the logger knows lower case.
	c.Log.Level, c.Log.Format = strings.ToLower(c.Log.Level), strings.ToLower(c.Log.Format)
	if c.Hub.NodeID == "" {
		if h, err := os.Hostname(); err == nil {
			c.Hub.NodeID = h
		} else {
			c.Hub.NodeID = "hub"
		}
	}
	c.Hub.DataDir = c.relPath("hub.data_dir", c.Hub.DataDir)
	c.Kafka.Embedded.DataDir = c.relPath("kafka.embedded.data_dir", c.Kafka.Embedded.DataDir)
	if c.Kafka.Embedded.DataDir == "" && c.Hub.DataDir != "" {
		c.Kafka.Embedded.DataDir = filepath.Join(c.Hub.DataDir, "kafka")
	}
	if dsn := c.State.DSN.Reveal(); strings.HasPrefix(dsn, "sqlite:") {
		c.State.DSN = Secret("sqlite:" + c.relPath("state.dsn", strings.TrimPrefix(dsn, "sqlite:")))
	}
	if c.State.DSN == "" && c.Hub.DataDir != "" {
		c.State.DSN = Secret("sqlite:" + filepath.Join(c.Hub.DataDir, "hub.db"))
	}
	t := &c.Kafka.TLS
	t.CAFile, t.CertFile, t.KeyFile = c.relPath("kafka.tls.ca_file", t.CAFile), c.relPath("kafka.tls.cert_file", t.CertFile), c.relPath("kafka.tls.key_file", t.KeyFile)
	c.resolveComponents()
}

// relPath makes a path of the config relative to the config file's folder:
// every path in a config file is. A value from a HUB_* variable stays
// relative to the working directory, as a shell user means it.
func (c *Config) relPath(key, p string) string {
	if p == "" || filepath.IsAbs(p) || c.File == "" || strings.HasPrefix(p, ":memory:") || strings.HasPrefix(p, "file:") {
		return p
	}
	if _, fromEnv := os.LookupEnv(envName(key)); fromEnv {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

var topicPrefixPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

func (c *Config) validate() Problems {
	var ps Problems
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			add(key, "must be a positive duration, got %s", d)
		}
	}
	oneOf := func(key, val string, allowed ...string) {
		for _, a := range allowed {
			if strings.EqualFold(val, a) {
				return
			}
		}
		add(key, "%q is not one of %s", val, strings.Join(allowed, ", "))
	}

	if c.Hub.DataDir == "" {
		add("hub.data_dir", "is required (the folder for the embedded broker and the SQLite state)")
	}
	positive("hub.shutdown_timeout", c.Hub.ShutdownTimeout)
	if c.Hub.LeaseTTL < time.Second {
		add("hub.lease_ttl", "must be at least 1s (a node renews its leases every third of it)")
	}
	if c.Hub.CheckInterval < 0 {
		add("hub.check_interval", "must not be negative (0 turns the probe off)")
	}

	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "auto", "text", "json")

	if err := checkHostPort(c.HTTP.Addr); err != nil {
		add("http.addr", "%v", err)
	}
	positive("http.read_header_timeout", c.HTTP.ReadHeaderTimeout)
	positive("http.read_timeout", c.HTTP.ReadTimeout)
	positive("http.write_timeout", c.HTTP.WriteTimeout)
	positive("http.idle_timeout", c.HTTP.IdleTimeout)
	if c.HTTP.MaxBodyBytes <= 0 {
		add("http.max_body_bytes", "must be positive, got %d", c.HTTP.MaxBodyBytes)
	}

	names := map[string]bool{}
	for i, t := range c.API.Tokens {
		key := fmt.Sprintf("api.tokens[%d]", i)
		if t.Name == "" {
			add(key+".name", "is required (it names the actor in the audit log)")
		} else if names[t.Name] {
			add(key+".name", "%q is used twice", t.Name)
		}
		names[t.Name] = true
		// Exactly: the server compares roles as written, so "Operator"
		// would pass here and then be refused everything.
		switch t.Role {
		case "viewer", "operator", "admin", "callcenter":
		default:
			add(key+".role", "%q is not one of viewer, operator, admin, callcenter (lower case)", t.Role)
		}
		switch {
		case t.TokenSHA256 != "" && t.Token != "":
			add(key+".token_sha256", "give token or token_sha256, not both")
		case t.TokenSHA256 != "":
			if b, err := hex.DecodeString(t.TokenSHA256); err != nil || len(b) != sha256.Size {
				add(key+".token_sha256", "must be 64 hex digits (hub users hash-token prints it)")
			}
		case len(t.Token.Reveal()) < 16:
			add(key+".token", "must be at least 16 characters (use ${VAR} to take it from the environment), or give token_sha256")
		}
	}
	validateUsers(c, names, add)
	if (c.HTTP.TLSCertFile == "") != (c.HTTP.TLSKeyFile == "") {
		add("http.tls_cert_file", "give both tls_cert_file and tls_key_file, or neither")
	}

	k := c.Kafka
	for i, b := range k.Brokers {
		if err := checkHostPort(b); err != nil {
			add("kafka.brokers", "entry %d: %v", i+1, err)
		}
	}
	if !topicPrefixPattern.MatchString(k.TopicPrefix) {
		add("kafka.topic_prefix", "%q must be 1-100 of letters, digits, '.', '_' or '-'", k.TopicPrefix)
	}
	if k.ClientID == "" {
		add("kafka.client_id", "is required")
	}
	if k.Partitions < 1 {
		add("kafka.partitions", "must be at least 1, got %d", k.Partitions)
	}
	if k.ReplicationFactor < 1 {
		add("kafka.replication_factor", "must be at least 1, got %d", k.ReplicationFactor)
	}
	positive("kafka.dial_timeout", k.DialTimeout)
	if k.Producer.BatchSize < 1 {
		add("kafka.producer.batch_size", "must be at least 1, got %d", k.Producer.BatchSize)
	}
	if k.Producer.BatchBytes < 1 || k.Producer.BatchBytes > MaxBatchBytes {
		add("kafka.producer.batch_bytes", "must be between 1 and %d (brokers refuse larger batches), got %d", MaxBatchBytes, k.Producer.BatchBytes)
	}
	positive("kafka.producer.batch_timeout", k.Producer.BatchTimeout)
	// (A batch_bytes out of its own range is reported above, not here.)
	if least := max(1, min(k.Producer.BatchBytes, MaxBatchBytes)); k.Consumer.FetchBytes < least || k.Consumer.FetchBytes > MaxFetchBytes {
		add("kafka.consumer.fetch_bytes", "must be between kafka.producer.batch_bytes (%d: a produced batch must fit in one fetch) and %d, got %d",
			least, MaxFetchBytes, k.Consumer.FetchBytes)
	}

	if k.TLS.Enabled {
		for key, f := range map[string]string{"kafka.tls.ca_file": k.TLS.CAFile, "kafka.tls.cert_file": k.TLS.CertFile, "kafka.tls.key_file": k.TLS.KeyFile} {
			if f == "" {
				continue
			}
			if _, err := os.Stat(f); err != nil {
				add(key, "cannot read %s: %v", f, unwrapPathErr(err))
			}
		}
		if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
			add("kafka.tls.cert_file", "cert_file and key_file go together: set both for client certificates, or neither")
		}
	} else if k.TLS.CAFile != "" || k.TLS.CertFile != "" || k.TLS.KeyFile != "" {
		add("kafka.tls.enabled", "TLS files are set but enabled is false")
	}
	if k.SASL.Mechanism != "" {
		oneOf("kafka.sasl.mechanism", k.SASL.Mechanism, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
		if k.SASL.Username == "" {
			add("kafka.sasl.username", "is required when kafka.sasl.mechanism is set")
		}
		if k.SASL.Password == "" {
			add("kafka.sasl.password", "is required when kafka.sasl.mechanism is set (use ${VAR} to take it from the environment)")
		}
	}
	if k.UseEmbedded() {
		if err := checkHostPort(k.Embedded.Addr); err != nil {
			add("kafka.embedded.addr", "%v", err)
		} else if !loopback(k.Embedded.Addr) && !k.Embedded.AllowRemote {
			add("kafka.embedded.addr", "%q listens beyond loopback, where anyone who reaches it could produce records that sinks write: "+
				"keep it on 127.0.0.1, or set kafka.embedded.allow_remote: true with kafka.sasl (the broker then requires that user)", k.Embedded.Addr)
		}
		if k.Embedded.AllowRemote && k.SASL.Mechanism == "" {
			add("kafka.embedded.allow_remote", "needs kafka.sasl (mechanism, username, password): a broker beyond loopback must require credentials")
		}
		if k.Embedded.Retention <= 0 {
			add("kafka.embedded.retention", "must be positive: without retention the embedded broker keeps every record in memory and on disk")
		}
		if k.Embedded.RetentionBytes < 0 {
			add("kafka.embedded.retention_bytes", "must be 0 (no size limit) or positive, got %d", k.Embedded.RetentionBytes)
		}
	}

	if err := checkDSN(c.State.DSN.Reveal()); err != nil {
		add("state.dsn", "%v", err)
	}
	return append(ps, c.validateComponents()...)
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func checkHostPort(addr string) error {
	if addr == "" {
		return fmt.Errorf("is required (host:port)")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port (0-65535)", addr)
	}
	return nil
}

// checkDSN accepts "sqlite:PATH", a postgres:// or postgresql:// URL.
func checkDSN(dsn string) error {
	switch {
	case dsn == "":
		return fmt.Errorf("is required (sqlite:PATH or postgres://user@host:5432/db)")
	case strings.HasPrefix(dsn, "sqlite:"):
		if strings.TrimPrefix(dsn, "sqlite:") == "" {
			return fmt.Errorf("sqlite: needs a file path, e.g. sqlite:data/hub.db")
		}
		return nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			// url errors quote the whole URL, password included: say less.
			return fmt.Errorf("is not a valid postgres URL")
		}
		if u.Host == "" {
			return fmt.Errorf("postgres URL has no host")
		}
		return nil
	default:
		return fmt.Errorf("must start with sqlite: or postgres:// (got %q)", redactDSN(dsn))
	}
}

func redactDSN(dsn string) string { return redact.DSN(dsn) }

// loopback reports whether a host:port listens on loopback only.
func loopback(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateUsers checks the console users: unique names (tokens' too: both
// name the actor in the audit log), a ranked role, a bcrypt hash and a
// base32 TOTP secret of at least 80 bits (RFC 4226 asks for 128).
func validateUsers(c *Config, names map[string]bool, add func(key, format string, args ...any)) {
	for i, u := range c.API.Users {
		key := fmt.Sprintf("api.users[%d]", i)
		if u.Name == "" {
			add(key+".name", "is required (it names the actor in the audit log)")
		} else if names[u.Name] {
			add(key+".name", "%q is used twice (tokens and users share names)", u.Name)
		}
		names[u.Name] = true
		switch u.Role {
		case "viewer", "operator", "admin":
		default:
			add(key+".role", "%q is not one of viewer, operator, admin (lower case)", u.Role)
		}
		if _, err := bcrypt.Cost([]byte(u.PasswordHash.Reveal())); err != nil {
			add(key+".password_hash", "is not a bcrypt hash (hub users hash-password makes one)")
		}
		secret := strings.ToUpper(strings.TrimRight(strings.ReplaceAll(u.TOTPSecret.Reveal(), " ", ""), "="))
		if b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret); err != nil || len(b) < 10 {
			add(key+".totp_secret", "must be a base32 secret of at least 16 characters (hub users enroll makes one)")
		}
	}
	l := c.API.Login
	if l.MaxFailures < 1 {
		add("api.login.max_failures", "must be at least 1, got %d", l.MaxFailures)
	}
	if l.Lockout <= 0 {
		add("api.login.lockout", "must be positive")
	}
	if l.SessionIdle <= 0 {
		add("api.login.session_idle", "must be positive")
	}
}
