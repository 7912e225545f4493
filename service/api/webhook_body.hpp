// Reading a webhook's body (SPEC §6): iamport sends JSON or form data, chosen in its console.
// A pure function of the request, so it can be tested and fuzzed without a server.
#pragma once

#include "db/webhook_inbox_repository.hpp"
#include "service/http/types.hpp"

namespace mg::api {

// The delivery to store: the body and content type as received, and what the body claims
// (imp_uid, merchant_uid, status). source_ip is left empty for the caller. Throws HttpError:
// 400 for a body that is not UTF-8, not well-formed or lacks a short imp_uid; 415 for a
// content type other than JSON or form data.
db::NewDelivery parse_delivery(const http::Request& request);

}  // namespace mg::api
