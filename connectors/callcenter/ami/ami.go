// Package ami owns the hub's side of Asterisk's Manager Interface (AMI)
// as Asterisk documents it: the framing (a banner line, then messages of
// "Key: Value" lines ended by an empty line, CRLF throughout), the Login
// and Ping actions, and a Tracker that turns the call events
// (Newchannel, Newstate, DialBegin, DialEnd, Hangup) of a call's channels,
// tied together by their Linkedid, into the call center's own stages:
// ringing (an agent's phone rings), answered and ended.
//
// It imports nothing of the hub.
package ami

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Field is one "Key: Value" line of a message.
type Field struct{ Key, Value string }

// Message is one AMI message (an event, a response or an action), its
// fields in order.
type Message []Field

// Get is the value of key (keys compare case-insensitively); "" when
// absent.
func (m Message) Get(key string) string {
	for _, f := range m {
		if strings.EqualFold(f.Key, key) {
			return f.Value
		}
	}
	return ""
}

// Limits on what a peer may send.
const (
	maxLine   = 8 << 10
	maxFields = 512
)

// ErrAuth is a refused login.
var ErrAuth = errors.New("ami: login refused")

// readMessage reads one message: lines up to an empty one.
func readMessage(r *bufio.Reader) (Message, error) {
	var m Message
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		if line == "" {
			if len(m) == 0 {
				continue // stray empty lines between messages
			}
			return m, nil
		}
		if len(m) == maxFields {
			return nil, fmt.Errorf("ami: a message of more than %d lines", maxFields)
		}
		k, v, _ := strings.Cut(line, ":")
		m = append(m, Field{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
}

// readLine reads a line ended by LF (CRLF on the wire), bounded.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		part, isPrefix, err := r.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, part...)
		if len(b) > maxLine {
			return "", fmt.Errorf("ami: a line of more than %d bytes", maxLine)
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// writeMessage writes m with CRLF line ends and the empty line.
func writeMessage(w io.Writer, m Message) error {
	var b strings.Builder
	for _, f := range m {
		b.WriteString(clean(f.Key))
		b.WriteString(": ")
		b.WriteString(clean(f.Value))
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// clean keeps a value on its line.
func clean(s string) string { return strings.NewReplacer("\r", "", "\n", " ").Replace(s) }

// Client is one manager connection.
type Client struct {
	conn   net.Conn
	r      *bufio.Reader
	banner string

	mu     sync.Mutex // writes and action ids
	nextID int
}

// Dial connects to addr (host:port) and reads Asterisk's banner.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ami: connect to %s: %w", addr, err)
	}
	c := &Client{conn: conn, r: bufio.NewReaderSize(conn, 16<<10)}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	banner, err := readLine(c.r)
	_ = conn.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ami: read the banner of %s: %w", addr, err)
	}
	if !strings.Contains(banner, "Call Manager") {
		conn.Close()
		return nil, fmt.Errorf("ami: %s is not an Asterisk manager (banner %q)", addr, clip(banner, 80))
	}
	c.banner = banner
	return c, nil
}

// Banner is the manager's greeting, e.g. "Asterisk Call Manager/7.0.3".
func (c *Client) Banner() string { return c.banner }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Send sends an action and returns its ActionID.
func (c *Client) Send(action string, fields ...Field) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	id := "hub-" + strconv.Itoa(c.nextID)
	m := append(Message{{"Action", action}, {"ActionID", id}}, fields...)
	if err := writeMessage(c.conn, m); err != nil {
		return "", fmt.Errorf("ami: send %s: %w", action, err)
	}
	return id, nil
}

// Login logs in with a manager user's secret (manager.conf), asking for
// the call events only. Events that arrive before the answer are
// dropped. ErrAuth means the credentials were refused.
func (c *Client) Login(ctx context.Context, user, secret string) error {
	id, err := c.Send("Login", Field{"Username", user}, Field{"Secret", secret}, Field{"Events", "call"})
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetReadDeadline(dl)
		defer c.conn.SetReadDeadline(time.Time{}) //nolint:errcheck // best effort
	}
	for {
		m, err := readMessage(c.r)
		if err != nil {
			return fmt.Errorf("ami: login: %w", err)
		}
		if m.Get("ActionID") != id || m.Get("Response") == "" {
			continue
		}
		if strings.EqualFold(m.Get("Response"), "Success") {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrAuth, clip(m.Get("Message"), 200))
	}
}

// Next reads the next message (an event or a response), waiting at most
// until deadline (zero: no limit).
func (c *Client) Next(deadline time.Time) (Message, error) {
	_ = c.conn.SetReadDeadline(deadline)
	m, err := readMessage(c.r)
	if err != nil {
		return nil, fmt.Errorf("ami: read: %w", err)
	}
	return m, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
