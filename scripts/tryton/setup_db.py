#!/usr/bin/python3
"""Minimum set-up of a fresh Tryton 6.0 database for the hub's tests, over
JSON-RPC with the standard library only.

    setup_db.py URL DATABASE [LOGIN [PASSWORD]]

Every step looks first and creates only what is missing, so running it
again changes nothing: currency EUR, a company attached to the admin user,
the minimal chart of accounts with default properties, fiscal years (this
year and next) with move and invoice sequences and periods, a product
category with revenue/expense accounts, and products SKU-1..SKU-5 in unit
"u" (list prices 10.00, 20.00, ...), a few countries (DE, AT, CH, FR, NL,
IT, ES, GB, US, CN), and a "Cash" invoice payment method (so tests can pay
invoices with the account.invoice.pay wizard).
"""
import base64
import datetime
import json
import sys
import time
import urllib.error
import urllib.request


def dec(s):
    return {"__class__": "Decimal", "decimal": s}


def date(d):
    return {"__class__": "date", "year": d.year, "month": d.month, "day": d.day}


class RPC:
    def __init__(self, url, db, login, password):
        self.endpoint = url.rstrip("/") + "/" + db + "/"
        self.auth = None
        self.n = 0
        uid, session = self.call("common.db.login", login, {"password": password}, "en")
        token = "%s:%s:%s" % (login, uid, session)
        self.auth = "Session " + base64.b64encode(token.encode()).decode()
        self.uid = uid

    def call(self, method, *params):
        self.n += 1
        body = json.dumps({"id": self.n, "method": method, "params": list(params)}).encode()
        req = urllib.request.Request(self.endpoint, data=body, headers={"Content-Type": "application/json"})
        if self.auth:
            req.add_header("Authorization", self.auth)
        for attempt in range(5):
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    reply = json.loads(r.read())
                break
            except urllib.error.HTTPError as e:
                if e.code in (429, 503) and attempt < 4:
                    time.sleep(1 + attempt)
                    continue
                raise SystemExit("%s: HTTP %s" % (method, e.code))
        if reply.get("error"):
            raise SystemExit("%s: %s" % (method, json.dumps(reply["error"])[:800]))
        return reply.get("result")

    def model(self, model, method, *params):
        return self.call("model.%s.%s" % (model, method), *params)


def log(msg):
    print("  " + msg, file=sys.stderr)


def one(rpc, model, domain, ctx):
    ids = rpc.model(model, "search", domain, 0, 1, None, ctx)
    return ids[0] if ids else None


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    url, db = sys.argv[1], sys.argv[2]
    login = sys.argv[3] if len(sys.argv) > 3 else "admin"
    password = sys.argv[4] if len(sys.argv) > 4 else "admin"
    rpc = RPC(url, db, login, password)
    ctx = {}

    # Currency.
    cur = one(rpc, "currency.currency", [["code", "=", "EUR"]], ctx)
    if cur is None:
        cur = rpc.model("currency.currency", "create", [{
            "name": "Euro", "code": "EUR", "symbol": "\u20ac",
            "rounding": dec("0.01"), "digits": 2}], ctx)[0]
        log("created currency EUR (%d)" % cur)
    else:
        log("currency EUR exists (%d)" % cur)

    # Company, attached to the user.
    co = one(rpc, "company.company", [], ctx)
    if co is None:
        party = rpc.model("party.party", "create", [{"name": "Hub Test Company"}], ctx)[0]
        co = rpc.model("company.company", "create", [{"party": party, "currency": cur}], ctx)[0]
        log("created company %d" % co)
    else:
        log("company exists (%d)" % co)
    user = rpc.model("res.user", "read", [rpc.uid], ["company", "companies"], ctx)[0]
    if user.get("company") != co or co not in (user.get("companies") or []):
        rpc.model("res.user", "write", [rpc.uid], {"companies": [["add", [co]]], "company": co}, ctx)
        log("attached company %d to user %d" % (co, rpc.uid))
    ctx = {"company": co}

    # Chart of accounts and default properties.
    if one(rpc, "account.account", [["company", "=", co]], ctx) is None:
        tmpl = one(rpc, "account.account.template", [["parent", "=", None]], ctx)
        if tmpl is None:
            raise SystemExit("no root account template")
        w = rpc.call("wizard.account.create_chart.create", ctx)
        wid = w[0] if isinstance(w, list) else w
        rpc.call("wizard.account.create_chart.execute", wid, {}, "account", ctx)
        res = rpc.call("wizard.account.create_chart.execute", wid,
                       {"account": {"company": co, "account_template": tmpl}}, "create_account", ctx)
        defaults = res.get("view", {}).get("defaults", {})
        props = {k: v for k, v in defaults.items() if "." not in k}
        props.setdefault("company", co)
        rpc.call("wizard.account.create_chart.execute", wid, {"properties": props}, "create_properties", ctx)
        rpc.call("wizard.account.create_chart.delete", wid, ctx)
        log("created the chart of accounts from template %d (properties %s)" % (
            tmpl, ", ".join(sorted(props))))
    else:
        log("chart of accounts exists")

    # Sequences and fiscal years (this year and next).
    def seq_type(model, name):
        st = one(rpc, model, [["name", "=", name]], ctx)
        if st is None:
            raise SystemExit("sequence type %r not found" % name)
        return st

    today = datetime.date.today()
    for year in (today.year, today.year + 1):
        start, end = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
        fy = one(rpc, "account.fiscalyear", [["company", "=", co], ["start_date", "<=", date(start)],
                                              ["end_date", ">=", date(end)]], ctx)
        if fy is not None:
            log("fiscal year %d exists (%d)" % (year, fy))
            continue
        move_seq = rpc.model("ir.sequence", "create", [{
            "name": "Account Move %d" % year, "company": co,
            "sequence_type": seq_type("ir.sequence.type", "Account Move")}], ctx)[0]
        inv_seq = rpc.model("ir.sequence.strict", "create", [{
            "name": "Invoice %d" % year, "company": co, "prefix": "INV%d-" % year, "padding": 5,
            "sequence_type": seq_type("ir.sequence.type", "Invoice")}], ctx)[0]
        fy = rpc.model("account.fiscalyear", "create", [{
            "name": str(year), "company": co, "start_date": date(start), "end_date": date(end),
            "post_move_sequence": move_seq,
            "invoice_sequences": [["create", [{
                "company": co,
                "out_invoice_sequence": inv_seq, "in_invoice_sequence": inv_seq,
                "out_credit_note_sequence": inv_seq, "in_credit_note_sequence": inv_seq}]]]}], ctx)[0]
        rpc.model("account.fiscalyear", "create_period", [fy], ctx)
        log("created fiscal year %d (%d) with periods and sequences" % (year, fy))

    # A few countries (a new database has none; addresses refer to them).
    countries = [("DE", "Germany"), ("AT", "Austria"), ("CH", "Switzerland"), ("FR", "France"),
                 ("NL", "Netherlands"), ("IT", "Italy"), ("ES", "Spain"), ("GB", "United Kingdom"),
                 ("US", "United States"), ("CN", "China")]
    have = {c["code"] for c in rpc.model("country.country", "search_read", [], 0, None, None, ["code"], ctx)}
    new = [{"code": c, "name": n} for c, n in countries if c not in have]
    if new:
        rpc.model("country.country", "create", new, ctx)
    log("countries: created %s" % (", ".join(c["code"] for c in new) or "none (all exist)"))

    # Product category with accounts.
    cat = one(rpc, "product.category", [["name", "=", "Hub Goods"]], ctx)
    if cat is None:
        rev = one(rpc, "account.account", [["company", "=", co], ["type.revenue", "=", True]], ctx)
        exp = one(rpc, "account.account", [["company", "=", co], ["type.expense", "=", True]], ctx)
        if rev is None or exp is None:
            raise SystemExit("no revenue/expense account in the chart")
        cat = rpc.model("product.category", "create", [{
            "name": "Hub Goods", "accounting": True,
            "account_revenue": rev, "account_expense": exp}], ctx)[0]
        log("created product category Hub Goods (%d)" % cat)
    else:
        log("product category exists (%d)" % cat)

    # Products SKU-1..SKU-5.
    unit = one(rpc, "product.uom", [["symbol", "=", "u"]], ctx)
    if unit is None:
        raise SystemExit('unit "u" not found')
    made = []
    for i in range(1, 6):
        code = "SKU-%d" % i
        if one(rpc, "product.product", [["code", "=", code]], ctx) is not None:
            continue
        rpc.model("product.template", "create", [{
            "name": "Product %d" % i, "type": "goods", "salable": True,
            "default_uom": unit, "sale_uom": unit, "account_category": cat,
            "list_price": dec("%d.00" % (10 * i)),
            "products": [["create", [{"suffix_code": code}]]]}], ctx)
        made.append(code)
    log("products: created %s" % (", ".join(made) or "none (all exist)"))

    # A payment method for paying customer invoices in cash.
    if one(rpc, "account.invoice.payment.method", [["company", "=", co]], ctx) is None:
        journal = one(rpc, "account.journal", [["type", "=", "cash"]], ctx)
        cash = one(rpc, "account.account", [["company", "=", co], ["type.name", "=", "Cash"]], ctx)
        if journal is None or cash is None:
            raise SystemExit("no cash journal or cash account for the payment method")
        pm = rpc.model("account.invoice.payment.method", "create", [{
            "name": "Cash", "company": co, "journal": journal,
            "debit_account": cash, "credit_account": cash}], ctx)[0]
        log("created payment method Cash (%d)" % pm)
    else:
        log("payment method exists")
    log("%d calls" % rpc.n)


if __name__ == "__main__":
    main()
