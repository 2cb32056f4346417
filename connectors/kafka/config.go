package kafka

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/crmhub/hub/connectors"
)

// Config is the settings block of a kafka connector:
//
//	brokers: [kafka-1:9092, kafka-2:9092]
//	sasl: {mechanism: scram-sha-512, user: hub, password: ${KAFKA_PASSWORD}}
//	tls: true
//	entities:
//	  order:
//	    topic: shop.orders          # a source consumes it, a sink produces to it
//	    start: earliest
//	    key_field: id               # the record's key: this field, not the message key
//	    group: crm-hub              # commit the source's position for lag tools
type Config struct {
	Brokers  []string      `mapstructure:"brokers" yaml:"brokers" required:"true" doc:"the cluster's bootstrap brokers, host:port"`
	ClientID string        `mapstructure:"client_id" yaml:"client_id" defaultdoc:"hub-<connector name>" doc:"the client id the brokers see (quotas, logs)"`
	SASL     *SASLConfig   `mapstructure:"sasl" yaml:"sasl" doc:"SASL authentication; without it none"`
	TLS      bool          `mapstructure:"tls" yaml:"tls" doc:"connect with TLS (the system's root certificates)"`
	Timeout  time.Duration `mapstructure:"timeout" yaml:"timeout" default:"30s" doc:"bounds one produce and one metadata or commit request"`
	// Compression is the codec of the batches a sink produces.
	Compression string                  `mapstructure:"compression" yaml:"compression" default:"snappy" enum:"none|gzip|snappy|lz4|zstd" doc:"sink: the codec of the message batches it produces; every consumer of the topic must read it (snappy since Kafka 0.8, lz4 since 0.10, zstd since 2.1); a source reads whatever it is given"`
	Entities    map[string]EntityConfig `mapstructure:"entities" yaml:"entities" required:"true" mapkey:"entity" doc:"the topics, by canonical entity"`
}

// SASLConfig is the SASL block.
type SASLConfig struct {
	Mechanism string `mapstructure:"mechanism" yaml:"mechanism" default:"plain" enum:"none|plain|scram-sha-256|scram-sha-512" doc:"the SASL mechanism; none turns SASL off (for a config that takes it from the environment)"`
	User      string `mapstructure:"user" yaml:"user" doc:"the user name (required unless the mechanism is none)"`
	Password  string `mapstructure:"password" yaml:"password" secret:"true" doc:"the password (required unless the mechanism is none)"`
}

// EntityConfig is one entity's topic.
type EntityConfig struct {
	Topic        string            `mapstructure:"topic" yaml:"topic" required:"true" doc:"the topic a source consumes and a sink produces to"`
	Start        string            `mapstructure:"start" yaml:"start" default:"earliest" enum:"earliest|latest" doc:"source: where a source with no cursor begins: the oldest message kept, or only messages produced from now on"`
	Group        string            `mapstructure:"group" yaml:"group" defaultdoc:"none" doc:"source: a consumer group to commit the source's position to once it is durable in the hub, so the cluster's lag tools see it; the hub's own cursor stays the truth"`
	KeyField     string            `mapstructure:"key_field" yaml:"key_field" defaultdoc:"source: the message key; sink: the hub id" doc:"the field holding the record's key: a source reads it from the value, a sink writes it as the message key (a dotted path into nested objects)"`
	VersionField string            `mapstructure:"version_field" yaml:"version_field" defaultdoc:"the message timestamp" doc:"source: the field holding the record's change time (RFC 3339), which orders versions"`
	Create       bool              `mapstructure:"create" yaml:"create" doc:"create the topic (with the cluster's default partitions) when it does not exist, where the cluster allows it (the hub's embedded broker does); without it a missing topic stops the connector, named, until it exists"`
	Headers      map[string]string `mapstructure:"headers" yaml:"headers" doc:"sink: headers added to every message (the hub adds hub-id, hub-entity, hub-op and hub-version)"`
	HeaderFields map[string]string `mapstructure:"header_fields" yaml:"header_fields" doc:"sink: headers taken from each mapped record, header name -> field (a dotted path into nested objects); a field that is absent, null, empty, an object or an array adds no header"`
	Metadata     string            `mapstructure:"metadata" yaml:"metadata" defaultdoc:"none" doc:"source: the name of a member added to each message's value, holding its topic, partition, offset, timestamp, key and headers, for the mapping and refs to read (metadata: _kafka, then from: _kafka.headers.tenant); it hides a member of that name in the value"`
}

func (c *Config) check(name string, p *connectors.FieldErrors) {
	if c.ClientID == "" {
		c.ClientID = "hub-" + name
	}
	for i, b := range c.Brokers {
		if _, port, ok := strings.Cut(b, ":"); !ok || port == "" {
			p.Add(fmt.Sprintf("brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if s := c.SASL; s != nil && s.Mechanism != "none" {
		if s.User == "" {
			p.Add("sasl.user", "is required with mechanism %s", s.Mechanism)
		}
		if s.Password == "" {
			p.Add("sasl.password", "is required with mechanism %s", s.Mechanism)
		}
	}
	if c.Timeout <= 0 {
		p.Add("timeout", "must be positive")
	}
	for entity, e := range c.Entities {
		if strings.ContainsAny(e.Topic, " /\\,:") || len(e.Topic) > 249 {
			p.Add("entities."+entity+".topic", "%q is not a Kafka topic name", e.Topic)
		}
		for h := range e.Headers {
			if strings.HasPrefix(h, "hub-") {
				p.Add("entities."+entity+".headers."+h, "headers starting with hub- are the hub's own")
			}
		}
		for h, field := range e.HeaderFields {
			key := "entities." + entity + ".header_fields." + h
			switch _, fixed := e.Headers[h]; {
			case h == "":
				p.Add(key, "a header needs a name")
			case strings.HasPrefix(h, "hub-"):
				p.Add(key, "headers starting with hub- are the hub's own")
			case fixed:
				p.Add(key, "header %s is also in headers: give it one source", h)
			case field == "":
				p.Add(key, "names no field")
			}
		}
		if m := e.Metadata; m != "" {
			if !memberName.MatchString(m) {
				p.Add("entities."+entity+".metadata", "%q is not a member name (letters, digits and _, not starting with a digit; no dots)", m)
			}
			for _, f := range []struct{ key, field, instead string }{
				{"key_field", e.KeyField, "leave it out to key by the message key"},
				{"version_field", e.VersionField, "leave it out to order by the message timestamp"},
			} {
				if f.field == m || strings.HasPrefix(f.field, m+".") {
					p.Add("entities."+entity+"."+f.key, "%s reads the message's value, not its metadata (%s): %s", f.field, m, f.instead)
				}
			}
		}
	}
}

// memberName is what metadata may be called: a plain member name, so
// that a mapping reaches it as the first step of a path.
var memberName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// SourceOnly names, by entity, the settings given that only a source
// reads (connectors.RoleSettings).
func (c *Conn) SourceOnly() map[string][]string { return c.given(EntityConfig.sourceOnly) }

// SinkOnly names, by entity, the settings given that only a sink reads.
func (c *Conn) SinkOnly() map[string][]string { return c.given(EntityConfig.sinkOnly) }

// given lists, by entity, the settings keys(e) finds given (entities with
// none are left out).
func (c *Conn) given(keys func(EntityConfig) []string) map[string][]string {
	out := map[string][]string{}
	for entity, e := range c.cfg.Entities {
		if ks := keys(e); len(ks) > 0 {
			out[entity] = ks
		}
	}
	return out
}

// sourceOnly lists the source's settings e gives, sorted.
func (e EntityConfig) sourceOnly() []string {
	var out []string
	if e.Group != "" {
		out = append(out, "group")
	}
	if e.Metadata != "" {
		out = append(out, "metadata")
	}
	if e.VersionField != "" {
		out = append(out, "version_field")
	}
	return out
}

// sinkOnly lists the sink's settings e gives, sorted.
func (e EntityConfig) sinkOnly() []string {
	var out []string
	if len(e.HeaderFields) > 0 {
		out = append(out, "header_fields")
	}
	if len(e.Headers) > 0 {
		out = append(out, "headers")
	}
	return out
}
