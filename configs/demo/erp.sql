-- The demo ERP's interface (staging) tables (SQLite): the hub writes here,
-- the ERP imports from here. Keyed by the hub's reference, version-guarded.
CREATE TABLE erp_customers (
    ext_ref    TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT,
    phone      TEXT,
    country    TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE erp_orders (
    ext_ref      TEXT PRIMARY KEY,
    customer_ref TEXT NOT NULL,
    order_no     TEXT NOT NULL,
    order_date   TEXT NOT NULL,
    currency     TEXT NOT NULL,
    total        TEXT NOT NULL,
    status       TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE TABLE erp_order_lines (
    order_ref  TEXT NOT NULL,
    line_no    INTEGER NOT NULL,
    sku        TEXT NOT NULL,
    qty        TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    amount     TEXT NOT NULL,
    PRIMARY KEY (order_ref, line_no)
);
