-- The shop e2e tests' CRM (SQLite): customers and orders as the hub
-- writes them, keyed by hub id.
CREATE TABLE shop_customers (
    ext_ref    TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT,
    phone      TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE shop_orders (
    ext_ref      TEXT PRIMARY KEY,
    customer_ref TEXT NOT NULL,
    shop_id      TEXT NOT NULL,
    order_no     TEXT NOT NULL,
    status       TEXT,
    total        TEXT,
    notes        TEXT,
    updated_at   TEXT NOT NULL
);
