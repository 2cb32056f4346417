// Package callcenter is the hub's call center: two connector kinds that
// work together.
//
//   - "screenpop" is a view (connectors.View): the screen-pop index of
//     package screenpop fed from the customer, order, invoice and
//     interaction topics, kept across restarts by a snapshot, answering
//     GET /api/v1/screenpop (who is calling: the customer cards, ranked)
//     and GET /api/v1/callerid (the caller's display name as text/plain,
//     for PBX lookups), and pushing call events to agents' browsers over
//     Server-Sent Events (GET /api/v1/agents/{id}/events, package agents)
//     with a small page that shows them (GET /api/v1/agents/{id}/screen).
//   - "calls" is a pusher (connectors.Pusher and Streamer) of interaction
//     records: it takes call events as a documented JSON event
//     (POST /webhooks/calls/{name}), as Twilio's voice webhooks
//     (POST /webhooks/calls/{name}/twilio, package twilio) and from
//     Asterisk's manager interface (package ami), pushes the screen-pop to
//     the agent whose phone rings, and when a call ends publishes it as an
//     interaction linked to the caller's customer (the call log).
//
// A calls connector names its screenpop connector (setting view); the two
// find each other through the registry that built them (views), never
// through package state.
//
// It implements the connector contract and must not import the pipeline
// or the store.
package callcenter
