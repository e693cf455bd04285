#include "coordinator/api_batches.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "coordinator/queries.h"

namespace hl::coordinator {
namespace {

constexpr size_t kDefaultBatchPage = 20;
constexpr size_t kMaxBatchPage = 200;

}  // namespace

std::string SessionJson(const TokenEntry& token) {
  nlohmann::json roles = nlohmann::json::array();
  for (Role r : {Role::kSubmit, Role::kRead, Role::kExport, Role::kAdmin}) {
    if (token.roles & static_cast<RoleSet>(r)) {
      roles.push_back(RolesText(static_cast<RoleSet>(r)));
    }
  }
  nlohmann::ordered_json doc = {{"token", token.name},
                                {"roles", std::move(roles)}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::string> BatchListBody(const Store& store, const QueryParams& params,
                                  int64_t now_ms) {
  auto limit =
      NumberParam(params, "limit", kDefaultBatchPage, 1, kMaxBatchPage);
  if (!limit.ok()) return limit.status();
  auto before = NumberParam(params, "cursor", UINT64_MAX, 1, UINT64_MAX - 1);
  if (!before.ok()) {
    return InvalidArgument("bad cursor \"" + *Param(params, "cursor") +
                           "\": pass the next_cursor of the previous page");
  }
  return BatchListJson(store, *before, *limit, now_ms);
}

Result<std::string> RowsBody(BatchTables& tables, uint64_t run_id,
                             const QueryParams& params, int64_t now_ms) {
  auto query = ParseRowQuery(params);
  if (!query.ok()) return query.status();
  auto table = tables.Get(run_id, now_ms);
  if (!table.ok()) return table.status();
  return RowsJson(**table, *query);
}

Result<std::string> RecheckBody(Store& store, uint64_t run_id, uint64_t line,
                                int64_t now_ms, std::string* audit) {
  auto jobs = BatchJobs(store, run_id, line);
  if (!jobs.ok()) return jobs.status();
  // In groups, so the broker is not held up by one long write.
  constexpr size_t kJobsPerWrite = 4096;
  Store::QueueCounts total;
  for (size_t i = 0; i < jobs->size(); i += kJobsPerWrite) {
    const auto first = jobs->begin() + static_cast<std::ptrdiff_t>(i);
    const auto last = jobs->begin() + static_cast<std::ptrdiff_t>(std::min(
                                          jobs->size(), i + kJobsPerWrite));
    auto counts = store.QueueChecks({first, last}, now_ms);
    if (!counts.ok()) return counts.status();
    total.queued += counts->queued;
    total.skipped += counts->skipped;
  }
  const Store::QueueCounts* counts = &total;
  *audit = "batch " + std::to_string(run_id) +
           (line != 0 ? " line " + std::to_string(line) : "") + ": " +
           std::to_string(counts->queued) + " queued, " +
           std::to_string(counts->skipped) + " skipped";
  nlohmann::ordered_json doc = {{"queued", counts->queued},
                                {"skipped", counts->skipped}};
  return doc.dump();
}

}  // namespace hl::coordinator
