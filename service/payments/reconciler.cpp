#include "service/payments/reconciler.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "db/idempotency_repository.hpp"
#include "db/lifecycle_repository.hpp"
#include "db/notifications_repository.hpp"
#include "db/orders_repository.hpp"
#include "db/payments_repository.hpp"
#include "db/webhook_inbox_repository.hpp"
#include "service/common/crypto.hpp"
#include "service/common/log.hpp"
#include "service/iamport/client.hpp"
#include "service/metrics/metrics.hpp"
#include "service/payments/lifecycle.hpp"
#include "service/payments/receipts.hpp"
#include "service/payments/settlement.hpp"
#include "service/runtime/db_executor.hpp"

namespace mg::payments {

namespace asio = boost::asio;

namespace {

// Each worker draining the inbox claims this many due deliveries at a time: enough to save
// claims, few enough that the workers share a backlog's tail.
constexpr int kDeliveriesPerClaim = 4;
constexpr int kOrdersPerClaim = 50;
constexpr std::chrono::seconds kTick{1};
// Retention purges: every instance runs one at start and then this often; batches keep each
// transaction short, and SKIP LOCKED keeps instances purging at once from waiting on each other.
constexpr std::chrono::minutes kPurgeInterval{10};
constexpr int kPurgeBatch = 1000;
constexpr int kPurgeBatchesPerPass = 100;
constexpr std::chrono::hours kIdempotencyRetention{24};

}  // namespace

std::chrono::seconds delivery_backoff(int attempts) {
    if (attempts <= 1) {
        return std::chrono::seconds(1);
    }
    if (attempts >= 6) {
        return std::chrono::seconds(30);
    }
    return std::chrono::seconds(std::min(30, 1 << (attempts - 1)));
}

asio::awaitable<std::string> process_delivery(runtime::DbExecutor& db, iamport::Client& iamport,
                                              const db::Delivery& delivery, int max_attempts) {
    const auto payment = co_await iamport.get_payment(delivery.imp_uid);
    if (!payment && payment.outcome() != iamport::Outcome::not_found) {
        const auto& error = payment.error();
        const auto retry_in = delivery_backoff(delivery.attempts);
        const auto state = co_await db.transact([&](pqxx::work& work) {
            auto left =
                db::retry_delivery(work, delivery.id, error.message, retry_in, max_attempts);
            return left;
        });
        const bool failed = state == db::DeliveryState::failed;
        (failed ? log::error : log::warn)(
            failed ? "webhook delivery failed for good; an operator must look"
                   : "webhook delivery not processed yet; will retry",
            {{"delivery", delivery.id},
             {"imp_uid", delivery.imp_uid},
             {"attempts", delivery.attempts},
             {"retry_in_s", static_cast<std::int64_t>(retry_in.count())},
             {"error", error.message}});
        metrics::count_webhook(failed ? "failed" : "retry");
        co_return failed ? "failed" : "retry";
    }

    std::string outcome;
    if (!payment) {
        // iamport knows no such payment: a forged or mistyped notice. Recorded, acknowledged.
        outcome = "unknown_payment";
        log::warn("webhook for a payment iamport does not know",
                  {{"delivery", delivery.id}, {"imp_uid", delivery.imp_uid}});
    }
    if (payment) {
        if (delivery.merchant_uid && *delivery.merchant_uid != payment->merchant_uid) {
            log::warn("webhook body names another merchant_uid than iamport",
                      {{"delivery", delivery.id},
                       {"imp_uid", delivery.imp_uid},
                       {"claimed_merchant_uid", *delivery.merchant_uid},
                       {"merchant_uid", payment->merchant_uid}});
        }
        // The order is iamport's merchant_uid's, never the body's. The delivery is marked in the
        // transaction that applies the payment.
        const auto applied = co_await apply_fresh(
            db, iamport, iamport::to_domain(payment.value()), domain::EventCause::webhook,
            [&](pqxx::work& work, const Applied& result) {
                if (result.needs_fresh_record) {
                    // The order changed under every re-fetch: decide later, from a calmer one.
                    outcome = "retry";
                    db::retry_delivery(work, delivery.id, "the order changed during each re-fetch",
                                       delivery_backoff(delivery.attempts), max_attempts);
                    return;
                }
                outcome = result.stale           ? "stale"
                          : result.review_reason ? "needs_review"
                          : result.path.empty()  ? "unchanged"
                                                 : "applied";
                db::mark_delivery_processed(work, delivery.id, outcome);
            });
        if (!applied) {
            outcome = "unknown_order";
            log::warn("webhook for a payment of no order of ours",
                      {{"delivery", delivery.id},
                       {"imp_uid", delivery.imp_uid},
                       {"merchant_uid", payment->merchant_uid}});
        }
    }
    if (outcome == "unknown_order" || outcome == "unknown_payment") {
        co_await db.transact(
            [&](pqxx::work& work) { db::mark_delivery_processed(work, delivery.id, outcome); });
    }
    metrics::count_webhook(outcome);
    log::info("webhook processed", {{"delivery", delivery.id},
                                    {"imp_uid", delivery.imp_uid},
                                    {"claimed_status", delivery.status.value_or("")},
                                    {"iamport_status", payment ? payment->status : ""},
                                    {"outcome", outcome}});
    co_return outcome;
}

struct Reconciler::State : std::enable_shared_from_this<State> {
    State(asio::any_io_executor ex, runtime::DbExecutor& d, iamport::Client& i, const Config& c)
        : executor(std::move(ex)),
          db(d),
          iamport(i),
          config(c),
          secrets(c.gateway_secret_key),
          timer(executor) {}

    asio::any_io_executor executor;
    runtime::DbExecutor& db;
    iamport::Client& iamport;
    const Config& config;
    const crypto::SecretKey secrets;
    asio::steady_timer timer;
    std::atomic<bool> stopped{false};
    // Workers processing deliveries (process_soon's and the inbox pass's helpers): at most
    // WEBHOOK_CONCURRENCY, beyond which a delivery waits in the inbox.
    std::atomic<std::size_t> processing{0};
    // A delivery was left in the inbox for want of a worker: the next worker to finish drains it.
    std::atomic<bool> backlog{false};

    asio::awaitable<void> process_one(std::int64_t id) {
        // One statement: in autocommit, without BEGIN and COMMIT round trips.
        auto delivery = co_await db.autocommit([&](pqxx::nontransaction& statements) {
            auto claimed = db::claim_delivery(statements, id, kDeliveryLease);
            return claimed;
        });
        if (delivery) {
            co_await process_delivery(db, iamport, *delivery, config.webhook_max_attempts);
        }
    }

    // Processes due deliveries, a claim at a time, until none is due. Claims skip what another
    // worker holds, so several drain one inbox without taking a delivery twice.
    asio::awaitable<void> drain_inbox(bool start_helpers) {
        backlog = false;  // whatever waits is this drain's now
        while (!stopped) {
            auto deliveries = co_await db.autocommit([&](pqxx::nontransaction& statements) {
                auto claimed =
                    db::claim_due_deliveries(statements, kDeliveriesPerClaim, kDeliveryLease);
                return claimed;
            });
            const bool more = deliveries.size() == static_cast<std::size_t>(kDeliveriesPerClaim);
            if (more && start_helpers) {
                start_helpers = false;  // a backlog: the budget's other workers share it
                while (start_worker(std::nullopt)) {
                }
            }
            for (const auto& delivery : deliveries) {
                try {
                    co_await process_delivery(db, iamport, delivery, config.webhook_max_attempts);
                } catch (const std::exception& e) {
                    // The lease runs out and the delivery is taken up again.
                    log::error("webhook processing failed",
                               {{"delivery", delivery.id}, {"error", e.what()}});
                }
            }
            if (!more) {
                break;
            }
        }
    }

    // A worker within the WEBHOOK_CONCURRENCY budget: processes `first` (a delivery just
    // received), then drains the inbox when deliveries were left waiting for want of one.
    // False when the budget is spent or the reconciler stopped.
    bool start_worker(std::optional<std::int64_t> first) {
        if (!take_slot()) {
            return false;
        }
        asio::co_spawn(
            executor,
            [self = shared_from_this(), first]() -> asio::awaitable<void> {
                try {
                    if (first) {
                        co_await self->process_one(*first);
                    }
                    if (!first || self->backlog.load()) {
                        co_await self->drain_inbox(false);
                    }
                } catch (const std::exception& e) {
                    // Left pending: a later drain or the inbox pass takes it up after the lease.
                    log::warn("webhook processing deferred",
                              {{"delivery", first.value_or(0)}, {"error", e.what()}});
                }
                self->release_slot();
            },
            asio::detached);
        return true;
    }

    bool take_slot() {
        if (stopped) {
            return false;
        }
        if (processing.fetch_add(1) >= config.webhook_concurrency) {
            processing.fetch_sub(1);
            return false;
        }
        return true;
    }

    // A delivery left waiting while this slot was taken gets a worker now, not at the next pass.
    void release_slot() {
        processing.fetch_sub(1);
        if (backlog.load()) {
            start_worker(std::nullopt);
        }
    }

    // Every tick: what is due (retries after their backoff, what a stopped instance left)
    // within the budget; when the workers are all busy they drain it as they finish.
    asio::awaitable<void> inbox_pass() {
        if (!take_slot()) {
            co_return;
        }
        try {
            co_await drain_inbox(true);
        } catch (...) {
            release_slot();
            throw;
        }
        release_slot();
    }

    asio::awaitable<void> orders_pass() {
        const auto lease = std::max(config.reconcile_interval, std::chrono::seconds(5));
        auto uids = co_await db.transact([&](pqxx::work& work) {
            auto claimed = db::claim_orders_to_reconcile(work, kOrdersPerClaim, lease);
            return claimed;
        });
        for (const auto& uid : uids) {
            if (stopped) {
                break;
            }
            try {
                const auto view =
                    co_await sync_order(db, iamport, uid, domain::EventCause::reconciler);
                if (view && view->order.status == domain::OrderStatus::awaiting_deposit &&
                    past_due_vbank(view->payments)) {
                    co_await close_past_due_account(uid);
                }
                co_await db.transact([&](pqxx::work& work) {
                    if (auto order = db::find_order_for_update(work, uid)) {
                        expire_if_due(work, *order, domain::EventCause::reconciler);
                    }
                    db::schedule_lookup(work, uid);
                });
            } catch (const std::exception& e) {
                log::warn("reconciling an order failed; will retry",
                          {{"merchant_uid", uid}, {"error", e.what()}});
            }
        }
    }

    // An order whose virtual account passed its due time: the account is closed at iamport
    // (DELETE /vbanks), so that no deposit lands after the order expired, and the order expires
    // with it. A deposit that landed first makes it paid instead. Should iamport refuse to close
    // it for another reason (a PG without the feature), the order still expires below; should
    // iamport not answer, it stays awaiting its deposit until the next pass.
    asio::awaitable<void> close_past_due_account(const std::string& uid) {
        CallDeps deps{db, iamport, {}, &secrets};
        Call call{uid, "reconciler-expiry", [](const std::optional<domain::Order>&) {},
                  std::nullopt, domain::EventCause::reconciler};
        try {
            co_await revoke_vbank(deps, call);
        } catch (const Failure& failure) {
            if (failure.kind() != Failure::Kind::conflict) {
                throw;
            }
            log::warn("closing a past-due virtual account was refused",
                      {{"merchant_uid", uid}, {"code", failure.code()}, {"error", failure.what()}});
        }
    }

    // Duplicates set aside for a refund (DUPLICATE_PAYMENT_POLICY=refund), refunded.
    asio::awaitable<void> duplicates_pass() {
        auto uids = co_await db.transact([&](pqxx::work& work) {
            auto found = db::orders_with_duplicates_to_refund(work, kOrdersPerClaim);
            return found;
        });
        CallDeps deps{db, iamport, {}, &secrets};
        for (const auto& uid : uids) {
            try {
                co_await refund_duplicates(deps, uid);
            } catch (const std::exception& e) {
                log::warn("refunding a duplicate payment failed; will retry",
                          {{"merchant_uid", uid}, {"error", e.what()}});
            }
        }
    }

    // Cash receipts whose deposit landed, issued; issues of unknown outcome, looked up.
    asio::awaitable<void> receipts_pass() {
        const auto stale = std::chrono::duration_cast<std::chrono::seconds>(settle_window(iamport));
        auto uids = co_await db.transact([&](pqxx::work& work) {
            auto found = db::orders_with_open_cash_receipts(work, static_cast<int>(stale.count()),
                                                            kOrdersPerClaim);
            return found;
        });
        CallDeps deps{db, iamport, {}, &secrets};
        for (const auto& uid : uids) {
            try {
                co_await settle_cash_receipts(deps, uid);
            } catch (const std::exception& e) {
                log::warn("settling a cash receipt failed; will retry",
                          {{"merchant_uid", uid}, {"error", e.what()}});
            }
        }
    }

    // Deletes what is past retention, a batch per transaction. Returns how many rows went.
    asio::awaitable<std::int64_t> purge_pass() {
        const auto deliveries_after = std::chrono::duration_cast<std::chrono::seconds>(
            std::chrono::hours(24) * config.webhook_retention_days);
        std::int64_t purged = 0;
        for (int batch = 0; batch < kPurgeBatchesPerPass && !stopped; ++batch) {
            const auto deleted = co_await db.transact([&](pqxx::work& work) {
                return db::purge_idempotency_keys(work, kIdempotencyRetention, kPurgeBatch) +
                       db::purge_deliveries(work, deliveries_after, kPurgeBatch) +
                       db::purge_events(work, deliveries_after, kPurgeBatch);
            });
            purged += deleted;
            if (deleted == 0) {
                break;
            }
        }
        co_return purged;
    }

    asio::awaitable<void> loop() {
        auto self = shared_from_this();
        auto next_orders_pass = std::chrono::steady_clock::now();
        auto next_purge = std::chrono::steady_clock::now();
        log::info("reconciler started",
                  {{"interval_s", static_cast<std::int64_t>(config.reconcile_interval.count())}});
        while (!stopped) {
            const char* kind = "inbox";
            try {
                co_await inbox_pass();
                metrics::count_reconciler_pass(kind, true);
                kind = "duplicates";
                co_await duplicates_pass();
                kind = "receipts";
                co_await receipts_pass();
                if (std::chrono::steady_clock::now() >= next_orders_pass) {
                    next_orders_pass = std::chrono::steady_clock::now() + config.reconcile_interval;
                    kind = "orders";
                    co_await orders_pass();
                    metrics::count_reconciler_pass(kind, true);
                }
                if (std::chrono::steady_clock::now() >= next_purge) {
                    next_purge = std::chrono::steady_clock::now() + kPurgeInterval;
                    kind = "purge";
                    if (const auto purged = co_await purge_pass(); purged > 0) {
                        log::info("purged rows past retention", {{"rows", purged}});
                    }
                    metrics::count_reconciler_pass(kind, true);
                }
            } catch (const std::exception& e) {
                metrics::count_reconciler_pass(kind, false);
                log::warn("reconciler pass failed", {{"kind", kind}, {"error", e.what()}});
            }
            if (stopped) {
                break;
            }
            timer.expires_after(
                std::min<std::chrono::steady_clock::duration>(kTick, config.reconcile_interval));
            boost::system::error_code ec;
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        log::info("reconciler stopped");
    }
};

Reconciler::Reconciler(asio::any_io_executor executor, runtime::DbExecutor& db,
                       iamport::Client& iamport, const Config& config)
    : state_(std::make_shared<State>(std::move(executor), db, iamport, config)) {}

Reconciler::~Reconciler() {
    stop();
}

void Reconciler::start() {
    asio::co_spawn(state_->executor, state_->loop(), asio::detached);
}

void Reconciler::stop() {
    state_->stopped = true;
    asio::post(state_->executor, [state = state_] { state->timer.cancel(); });
}

bool Reconciler::process_soon(std::int64_t delivery_id) {
    // Budgeted: beyond WEBHOOK_CONCURRENCY the delivery waits in the inbox (it is due already)
    // until a worker finishes or the next inbox pass, so a flood of notices costs a bounded
    // number of re-fetches at a time.
    if (state_->start_worker(delivery_id)) {
        return true;
    }
    if (!state_->stopped) {
        state_->backlog = true;
        metrics::count_webhook("queued");
    }
    return false;
}

}  // namespace mg::payments
