package kafka

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// DescribeCursor says where a source stands in each partition and how far
// behind the partition's end it is.
func (c *Conn) DescribeCursor(ctx context.Context, entity, cursor string) (string, error) {
	e, err := c.entity(entity)
	if err != nil {
		return "", err
	}
	o, err := parseOffsets(cursor)
	if err != nil {
		return "", err
	}
	parts, err := c.partitions(ctx, e)
	if err != nil {
		return "", err
	}
	cl, err := c.client()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	ends, err := listOffsets(ctx, cl, e.Topic, parts, latest)
	if err != nil {
		return "", fmt.Errorf("kafka %s: %w", c.name, err)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	var b strings.Builder
	fmt.Fprintf(&b, "topic %s:", e.Topic)
	for _, p := range parts {
		at, ok := o[p]
		switch {
		case !ok:
			fmt.Fprintf(&b, " partition %d not read yet (%s, %d messages);", p, e.Start, ends[p])
		default:
			fmt.Fprintf(&b, " partition %d at offset %d, %d behind;", p, at, max(ends[p]-at, 0))
		}
	}
	return strings.TrimSuffix(b.String(), ";"), nil
}

// CursorSince is the cursor that reads every message produced at or after
// since, by the messages' timestamps.
func (c *Conn) CursorSince(ctx context.Context, entity string, since time.Time) (string, error) {
	e, err := c.entity(entity)
	if err != nil {
		return "", err
	}
	parts, err := c.partitions(ctx, e)
	if err != nil {
		return "", err
	}
	cl, err := c.client()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	o, err := listOffsets(ctx, cl, e.Topic, parts, since.UnixMilli())
	if err != nil {
		return "", fmt.Errorf("kafka %s: %w", c.name, err)
	}
	return o.String(), nil
}
