-- The demo CRM database (SQLite). Run by the crm connector's init_sql when
-- the tables do not exist yet. updated_at is kept by triggers, so any
-- INSERT or UPDATE is picked up by the hub's change capture.
CREATE TABLE customers (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT,
    phone      TEXT,
    country    TEXT,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    order_no    TEXT NOT NULL,
    order_date  TEXT NOT NULL,
    currency    TEXT NOT NULL DEFAULT 'EUR',
    total       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open',
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE order_lines (
    order_id   INTEGER NOT NULL REFERENCES orders (id),
    line_no    INTEGER NOT NULL,
    sku        TEXT NOT NULL,
    qty        TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
-- The call log: one row per call, written by the hub's crm-calls sink
-- (ext_ref is the call's hub id), linked to the caller's customer.
CREATE TABLE interactions (
    id               INTEGER PRIMARY KEY,
    ext_ref          TEXT NOT NULL UNIQUE,
    customer_id      INTEGER REFERENCES customers (id),
    channel          TEXT,
    direction        TEXT,
    from_number      TEXT,
    to_number        TEXT,
    agent            TEXT,
    started_at       TEXT,
    ended_at         TEXT,
    duration_seconds INTEGER,
    outcome          TEXT,
    recording_url    TEXT,
    updated_at       TEXT NOT NULL
);
CREATE TRIGGER customers_touch AFTER UPDATE ON customers WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE customers SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;
CREATE TRIGGER orders_touch AFTER UPDATE ON orders WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE orders SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;
-- A change to a line is a change to its order.
CREATE TRIGGER order_lines_touch AFTER INSERT ON order_lines
BEGIN
    UPDATE orders SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.order_id;
END;

INSERT INTO customers (id, name, email, phone, country) VALUES
    (1, 'Acme Maschinenbau GmbH', 'Einkauf@Acme.example', '030 1234567', 'DE'),
    (2, 'Ada Lovelace', 'ada@example.com', '+44 20 7946 0000', 'GB'),
    (3, 'Grace Hopper', 'grace@example.com', '+1 202 555 0143', 'US');
INSERT INTO orders (id, customer_id, order_no, order_date, currency, total, status) VALUES
    (1, 1, 'SO-1001', '2026-11-20', 'EUR', '1250.00', 'open'),
    (2, 2, 'SO-1002', '2026-11-21', 'GBP', '99.80', 'paid');
INSERT INTO order_lines (order_id, line_no, sku, qty, unit_price) VALUES
    (1, 1, 'PUMP-100', '2', '500.00'),
    (1, 2, 'SVC-INST', '4', '62.50'),
    (2, 1, 'BOOK-7', '2', '49.90');
