package main

import (
	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/callcenter"
	"github.com/crmhub/hub/connectors/erp/odoo"
	"github.com/crmhub/hub/connectors/erp/rest"
	"github.com/crmhub/hub/connectors/erp/tryton"
	"github.com/crmhub/hub/connectors/kafka"
	"github.com/crmhub/hub/connectors/saas/fxiaoke"
	"github.com/crmhub/hub/connectors/saas/zoho"
	"github.com/crmhub/hub/connectors/shop/shopify"
	"github.com/crmhub/hub/connectors/shop/woocommerce"
	"github.com/crmhub/hub/connectors/sqlstore"
)

// kinds is the registry of the connector kinds this binary ships.
func kinds() (*connectors.Registry, error) {
	r := connectors.NewRegistry()
	for _, register := range []func(*connectors.Registry) error{
		sqlstore.Register,
		tryton.Register,
		odoo.Register,
		rest.Register,
		shopify.Register,
		woocommerce.Register,
		callcenter.Register,
		zoho.Register,
		fxiaoke.Register,
		kafka.Register,
	} {
		if err := register(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}
