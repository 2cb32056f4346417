-- The demo CRM database (SQLite). Run by the crm connector's init_sql when
-- the tables do not exist yet. updated_at is kept by triggers (the version
-- of each change), and the outbox triggers below record every insert,
-- update and delete for the hub's change capture.
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

-- Change capture by outbox (what `hub sql install-capture` creates for
-- SQLite): every insert, update and delete of a customer, an order or an
-- order line is recorded, so deletes reach the ERP too.
CREATE TABLE hub_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    entity     TEXT NOT NULL,
    pk         TEXT NOT NULL,
    op         TEXT NOT NULL,
    changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX hub_outbox_entity_id ON hub_outbox (entity, id);
CREATE TRIGGER hub_customers_ai AFTER INSERT ON customers FOR EACH ROW
BEGIN
    INSERT INTO hub_outbox (entity, pk, op) SELECT 'customer', NEW.id, 'upsert';
END;
CREATE TRIGGER hub_customers_au AFTER UPDATE ON customers FOR EACH ROW
BEGIN
    INSERT INTO hub_outbox (entity, pk, op) SELECT 'customer', NEW.id, 'upsert';
    INSERT INTO hub_outbox (entity, pk, op) SELECT 'customer', OLD.id, 'delete' WHERE OLD.id IS NOT NEW.id;
END;
CREATE TRIGGER hub_customers_ad AFTER DELETE ON customers FOR EACH ROW
BEGIN
    INSERT INTO hub_outbox (entity, pk, op) SELECT 'customer', OLD.id, 'delete';
END;
CREATE TRIGGER hub_orders_ai AFTER INSERT ON orders FOR EACH ROW
BEGIN
    INSERT INTO hub_outbox (entity, pk, op) SELECT 'order', NEW.id, 'upsert';
END;
CREATE TRIGGER hub_orders_au AFTER UPDATE ON orders FOR EACH ROW
BEGIN
    INSERT INTO hub_outbox (entity, pk, op) SELECT 'order', NEW.id, 'upsert';
    INSERT INTO hub_outbox (entity, pk, op) SELECT 'order', OLD.id, 'delete' WHERE OLD.id IS NOT NEW.id;
END;
CREATE TRIGGER hub_orders_ad AFTER DELETE ON orders FOR EACH ROW
BEGIN
    INSERT INTO hub_outbox (entity, pk, op) SELECT 'order', OLD.id, 'delete';
END;
CREATE TRIGGER hub_order_lines_ai AFTER INSERT ON order_lines FOR EACH ROW
BEGIN
    INSERT INTO hub_outbox (entity, pk, op) SELECT 'order', NEW.order_id, 'upsert';
END;
CREATE TRIGGER hub_order_lines_au AFTER UPDATE ON order_lines FOR EACH ROW
BEGIN
    INSERT INTO hub_outbox (entity, pk, op) SELECT 'order', OLD.order_id, 'upsert';
    INSERT INTO hub_outbox (entity, pk, op) SELECT 'order', NEW.order_id, 'upsert' WHERE OLD.order_id IS NOT NEW.order_id;
END;
CREATE TRIGGER hub_order_lines_ad AFTER DELETE ON order_lines FOR EACH ROW
BEGIN
    INSERT INTO hub_outbox (entity, pk, op) SELECT 'order', OLD.order_id, 'upsert';
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
