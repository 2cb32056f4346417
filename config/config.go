// Package config owns the hub's configuration: the typed structs an operator
// fills in through a YAML file, HUB_* environment overrides and ${VAR}
// secret references, and the validation that runs before anything starts.
//
// Every problem is reported with the key it concerns and, where the YAML file
// holds that key, the file and line. Config must not import any other package
// of the hub but the leaf packages canonical (the entity list) and
// internal/redact (secrets out of messages): the runtime
// maps these structs onto each component's own plain config.
package config

import (
	"log/slog"
	"time"
)

// Config is the whole hub configuration.
type Config struct {
	Hub   HubConfig   `mapstructure:"hub"`
	Log   LogConfig   `mapstructure:"log"`
	HTTP  HTTPConfig  `mapstructure:"http"`
	API   APIConfig   `mapstructure:"api"`
	Kafka KafkaConfig `mapstructure:"kafka"`
	State StateConfig `mapstructure:"state"`

	// Connectors are the configured systems, by name.
	Connectors map[string]ConnectorConfig `mapstructure:"connectors"`
	// Sources read changes from a connector into the entity topics, by name.
	Sources map[string]SourceConfig `mapstructure:"sources"`
	// Sinks write entity topics into a connector, by name.
	Sinks map[string]SinkConfig `mapstructure:"sinks"`
	// Entities hold the two-way sync policy of canonical entities, by
	// entity name: field owners, conflict policy, match rules.
	Entities map[string]EntityConfig `mapstructure:"entities"`
	// Reconcile holds the reconciliation jobs, by name.
	Reconcile map[string]ReconcileConfig `mapstructure:"reconcile"`
	// Trace configures the record journal behind `hub trace`.
	Trace TraceConfig `mapstructure:"trace"`

	// File is the config file the values came from ("" when none).
	File string `mapstructure:"-"`
	// lines maps dotted keys to the line that sets them in File.
	lines map[string]int
}

// HubConfig holds process-wide settings.
type HubConfig struct {
	// NodeID names this process in leases and logs; default: the host name.
	NodeID string `mapstructure:"node_id"`
	// DataDir is where the embedded broker and the SQLite state live by default.
	DataDir string `mapstructure:"data_dir"`
	// ShutdownTimeout bounds a graceful stop (flush writers, commit offsets).
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// LeaseTTL is how long a node that died keeps the sources it read:
	// another node takes them over after it. Default 15s.
	LeaseTTL time.Duration `mapstructure:"lease_ttl"`
	// CheckInterval is how often each connector's system is probed once
	// started (readiness, hub_connector_up); 0 turns the probe off.
	CheckInterval time.Duration `mapstructure:"check_interval"`
}

// LogConfig selects the structured log output.
type LogConfig struct {
	Level  string `mapstructure:"level"`  // debug, info, warn, error
	Format string `mapstructure:"format"` // auto (text on a terminal, JSON otherwise), text, json
}

// HTTPConfig configures the API, health and metrics server.
type HTTPConfig struct {
	Addr              string        `mapstructure:"addr"`
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	ReadTimeout       time.Duration `mapstructure:"read_timeout"`
	WriteTimeout      time.Duration `mapstructure:"write_timeout"`
	IdleTimeout       time.Duration `mapstructure:"idle_timeout"`
	// MaxBodyBytes caps every request body.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// TLSCertFile and TLSKeyFile (PEM), when both set, make the hub serve
	// HTTPS only.
	TLSCertFile string `mapstructure:"tls_cert_file"`
	TLSKeyFile  string `mapstructure:"tls_key_file"`
	// SecureCookies marks the console's session cookie Secure over plain
	// HTTP too: for a hub behind a proxy that ends TLS.
	SecureCookies bool `mapstructure:"secure_cookies"`
}

// APIConfig holds the tokens that may call the API, the users who may
// sign in to the console, and the login policy.
type APIConfig struct {
	Tokens []TokenConfig `mapstructure:"tokens"`
	Users  []UserConfig  `mapstructure:"users"`
	Login  LoginConfig   `mapstructure:"login"`
}

// UserConfig is one console user: a bcrypt password hash (`hub users
// hash-password`) and a TOTP secret (`hub users enroll`), both best taken
// from the environment with ${VAR}.
type UserConfig struct {
	Name         string `mapstructure:"name"`
	Role         string `mapstructure:"role"` // viewer, operator, admin
	PasswordHash Secret `mapstructure:"password_hash"`
	TOTPSecret   Secret `mapstructure:"totp_secret"`
}

// LoginConfig bounds password guessing and sets the session lifetime.
type LoginConfig struct {
	// MaxFailures failed logins for one user name or from one address
	// lock it out for Lockout.
	MaxFailures int           `mapstructure:"max_failures"`
	Lockout     time.Duration `mapstructure:"lockout"`
	// SessionIdle ends a console session unused this long.
	SessionIdle time.Duration `mapstructure:"session_idle"`
}

// TokenConfig is one API token. Roles: viewer (read), operator (also
// replay and discard dead letters), admin (everything); callcenter is a
// call-center system's key (a PBX, a CTI, agent desktops): screen-pop,
// caller id and call events only.
type TokenConfig struct {
	Name  string `mapstructure:"name"`
	Role  string `mapstructure:"role"`
	Token Secret `mapstructure:"token"`
	// TokenSHA256 is the hex SHA-256 of the token instead of the token
	// itself (`hub users hash-token`): the config then holds no secret.
	TokenSHA256 string `mapstructure:"token_sha256"`
}

// KafkaConfig configures the bus. With no Brokers the hub runs the embedded
// broker.
type KafkaConfig struct {
	Brokers           []string       `mapstructure:"brokers"`
	ClientID          string         `mapstructure:"client_id"`
	TopicPrefix       string         `mapstructure:"topic_prefix"`
	Partitions        int            `mapstructure:"partitions"`
	ReplicationFactor int            `mapstructure:"replication_factor"`
	DialTimeout       time.Duration  `mapstructure:"dial_timeout"`
	TLS               TLSConfig      `mapstructure:"tls"`
	SASL              SASLConfig     `mapstructure:"sasl"`
	Producer          ProducerConfig `mapstructure:"producer"`
	Consumer          ConsumerConfig `mapstructure:"consumer"`
	Embedded          EmbeddedConfig `mapstructure:"embedded"`
}

// TLSConfig enables TLS towards a real Kafka cluster.
type TLSConfig struct {
	Enabled            bool   `mapstructure:"enabled"`
	CAFile             string `mapstructure:"ca_file"`
	CertFile           string `mapstructure:"cert_file"`
	KeyFile            string `mapstructure:"key_file"`
	ServerName         string `mapstructure:"server_name"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify"`
}

// SASLConfig enables SASL authentication towards a real Kafka cluster.
type SASLConfig struct {
	Mechanism string `mapstructure:"mechanism"` // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	Username  string `mapstructure:"username"`
	Password  Secret `mapstructure:"password"`
}

// ProducerConfig tunes the batching writer.
type ProducerConfig struct {
	BatchSize    int           `mapstructure:"batch_size"`
	BatchBytes   int64         `mapstructure:"batch_bytes"`
	BatchTimeout time.Duration `mapstructure:"batch_timeout"`
}

// ConsumerConfig tunes the sinks' reads of the canonical topics.
type ConsumerConfig struct {
	// FetchBytes caps one fetch of one partition: what the broker answers
	// at once, and what the hub holds of it, per partition a sink reads.
	FetchBytes int64 `mapstructure:"fetch_bytes"`
}

// EmbeddedConfig configures the in-process Kafka-protocol broker used when
// no brokers are configured.
type EmbeddedConfig struct {
	// Addr is where the broker listens: loopback unless AllowRemote.
	Addr string `mapstructure:"addr"`
	// AllowRemote lets the broker listen beyond loopback. Anyone who
	// reaches it could produce envelopes that sinks write, so it then
	// requires kafka.sasl: the broker takes that one user.
	AllowRemote    bool          `mapstructure:"allow_remote"`
	DataDir        string        `mapstructure:"data_dir"`
	Retention      time.Duration `mapstructure:"retention"`
	RetentionBytes int64         `mapstructure:"retention_bytes"`
	SyncWrites     bool          `mapstructure:"sync_writes"`
}

// StateConfig selects the state store.
type StateConfig struct {
	// DSN is "sqlite:PATH" (default, under hub.data_dir) or a postgres:// URL.
	DSN Secret `mapstructure:"dsn"`
}

// UseEmbedded reports whether the hub runs its own broker.
func (k KafkaConfig) UseEmbedded() bool { return len(k.Brokers) == 0 }

// ConnectorConfig is one system: its kind names the connector package that
// decodes and validates the remaining settings.
type ConnectorConfig struct {
	Kind     string         `mapstructure:"kind"`
	Settings map[string]any `mapstructure:",remain"`
}

// SourceConfig reads one entity from a connector.
type SourceConfig struct {
	Connector string `mapstructure:"connector"`
	Entity    string `mapstructure:"entity"`
	// Mode is "pull" (read from the connector's cursor) or "push" (take
	// what the system pushes to the connector's webhook routes); default:
	// pull where the connector can read the entity, else push.
	Mode string `mapstructure:"mode"`
	// Mapping is the inbound mapping file (system -> canonical), relative to
	// the config file.
	Mapping   string        `mapstructure:"mapping"`
	Interval  time.Duration `mapstructure:"interval"`
	BatchSize int           `mapstructure:"batch_size"`
	// Refs names, per referenced entity, the native field that holds the
	// referenced record's key (an order's customer_id), so the order
	// carries its customer's hub id.
	Refs map[string]string `mapstructure:"refs"`
}

// SinkConfig writes entity topics into a connector.
type SinkConfig struct {
	Connector string `mapstructure:"connector"`
	// Entities maps each entity the sink takes to its outbound mapping file.
	Entities  map[string]SinkEntityConfig `mapstructure:"entities"`
	BatchSize int                         `mapstructure:"batch_size"`
	// Workers is how many consumers of each entity write in parallel (each
	// owns some of the topic's partitions, so one record's changes stay in
	// order). At most kafka.partitions are useful.
	Workers int         `mapstructure:"workers"`
	Retry   RetryConfig `mapstructure:"retry"`
	// Stamps, true by default, records in the crosswalk what the sink
	// wrote (the record's id there, its hash and version): how it skips an
	// unchanged record delivered again, resolves references and updates
	// and deletes records by their id in the target, and how a source of
	// the same connector tells the hub's own writes from changes. false,
	// for a log that nothing reads back (a kafka topic for analytics):
	// every version delivered is written, references are not waited for,
	// and the sink writes no crosswalk row per record (see docs/config.md).
	Stamps *bool `mapstructure:"stamps"`
}

// Stamped reports whether the sink records what it writes in the
// crosswalk (stamps, true unless set false).
func (s SinkConfig) Stamped() bool { return s.Stamps == nil || *s.Stamps }

// SinkEntityConfig is one entity of a sink.
type SinkEntityConfig struct {
	Mapping string `mapstructure:"mapping"`
	// Deletes is "apply" (default: deletes reach the target) or "ignore"
	// (deletes are dropped, traced): needed where a source sees deletes of
	// the entity and the target cannot apply them.
	Deletes string `mapstructure:"deletes"`
}

// EntityConfig is how one entity settles when several systems change it
// (see docs/two-way.md). An entity read by sources of two or more
// connectors is merged even without an entry here (conflict: newest).
type EntityConfig struct {
	// Owners maps canonical fields to the connector that is their system
	// of record: a change from another connector never sets them.
	Owners map[string]string `mapstructure:"owners"`
	// Conflict decides fields without an owner: "newest" (default; the
	// newer source version wins, ties go to review) or a connector's name
	// (that system wins).
	Conflict string `mapstructure:"conflict"`
	// Match lists canonical fields that match a record from a new system
	// to an existing hub record, tried in order (e.g. email, phone,
	// tax_id). Emails compare case-insensitively, phone numbers as E.164,
	// other fields upper-cased without spaces and punctuation.
	Match []string `mapstructure:"match"`
	// PhoneCountryCode is the calling code (e.g. "49") given to phone
	// numbers written without one, for matching.
	PhoneCountryCode string `mapstructure:"phone_country_code"`
}

// TraceConfig configures the record journal.
type TraceConfig struct {
	// Enabled journals what sources and sinks do to each record; default true.
	Enabled bool `mapstructure:"enabled"`
	// Retention is how long events are kept; default 7 days.
	Retention time.Duration `mapstructure:"retention"`
	// PruneInterval is how often old events are deleted; default 1h.
	PruneInterval time.Duration `mapstructure:"prune_interval"`
}

// RetryConfig bounds retries of transient failures before a record is
// dead-lettered.
type RetryConfig struct {
	MaxAttempts int           `mapstructure:"max_attempts"`
	Initial     time.Duration `mapstructure:"initial"`
	Max         time.Duration `mapstructure:"max"`
	// RefWait is how long a record waits for a record it references (an
	// order's customer) to reach the target before it is dead-lettered.
	// Waiting does not count against MaxAttempts: the record is fine, its
	// customer is late.
	RefWait time.Duration `mapstructure:"ref_wait"`
}

// Secret is a string that never prints: logs, JSON and fmt show it redacted.
type Secret string

const redacted = "[redacted]"

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Reveal returns the value for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// LogValue hides the value from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText hides the value from encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Default returns the configuration used for every key the file and the
// environment leave unset.
func Default() Config {
	return Config{
		Hub: HubConfig{
			DataDir:         "data",
			ShutdownTimeout: 30 * time.Second,
			CheckInterval:   15 * time.Second,
			LeaseTTL:        15 * time.Second,
		},
		Log:   LogConfig{Level: "info", Format: "auto"},
		Trace: TraceConfig{Enabled: true, Retention: 7 * 24 * time.Hour, PruneInterval: time.Hour},
		HTTP: HTTPConfig{
			Addr:              "127.0.0.1:8080",
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxBodyBytes:      1 << 20,
		},
		API: APIConfig{Login: LoginConfig{MaxFailures: 5, Lockout: 15 * time.Minute, SessionIdle: 8 * time.Hour}},
		Kafka: KafkaConfig{
			ClientID:          "crm-hub",
			TopicPrefix:       "crm",
			Partitions:        6,
			ReplicationFactor: 1,
			DialTimeout:       10 * time.Second,
			Producer: ProducerConfig{
				BatchSize:    1000,
				BatchBytes:   900 << 10,        // below kfake's and Kafka's 1 MiB message.max.bytes
				BatchTimeout: time.Millisecond, // a sync Write waits this long on its last partial batch
			},
			Consumer: ConsumerConfig{FetchBytes: 1 << 20},
			Embedded: EmbeddedConfig{
				Addr:           "127.0.0.1:9092",
				Retention:      7 * 24 * time.Hour,
				RetentionBytes: 1 << 30,
			},
		},
	}
}
