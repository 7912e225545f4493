// An order as the API shows it and as the shop's events carry it: the order, its payments (each
// with its cancel_history) and its newest cash receipt. Never its client secret, which only the
// API adds, for API-key callers.
#pragma once

#include <boost/json/value.hpp>
#include <pqxx/transaction>
#include <string_view>

#include "service/payments/settlement.hpp"

namespace mg::payments {

boost::json::value order_document(const OrderView& view);

// Writes an event of `type` about `order` (locked by the caller, with what this transaction has
// written already) in `txn`: the outbox of SPEC §11, so a change that rolls back sends nothing
// and one that commits never loses its event. Its deliveries go to every endpoint that wants it.
void emit_event(pqxx::work& txn, const domain::Order& order, std::string_view type);

// The event that an order's new status is told by (order.paid, ...); empty for none (pending).
std::string_view event_type_of(domain::OrderStatus status);

}  // namespace mg::payments
