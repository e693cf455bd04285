#include "coordinator/batch_table.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>

#include "common/record_json.h"
#include "coordinator/queries.h"
#include "coordinator/referral_package.h"
#include "coordinator/reports.h"

namespace hl::coordinator {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kStatuses[] = {"located",  "unresolved", "error",
                                          "rejected", "queued",     "in_flight",
                                          "dead"};
constexpr std::string_view kEvents[] = {"moved", "down", "back_up"};
constexpr std::string_view kStates[] = {"online", "down", "unreachable"};
constexpr std::pair<std::string_view, RowSort> kSorts[] = {
    {"line", RowSort::kLine},
    {"url", RowSort::kUrl},
    {"country", RowSort::kCountry},
    {"provider", RowSort::kProvider},
    {"status", RowSort::kStatus},
    {"error_class", RowSort::kErrorClass},
    {"confidence", RowSort::kConfidence},
    {"checked_at", RowSort::kCheckedAt}};

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

template <size_t N>
bool OneOf(const std::string& value, const std::string_view (&allowed)[N]) {
  return std::find(std::begin(allowed), std::end(allowed), value) !=
         std::end(allowed);
}

template <size_t N>
std::string Listed(const std::string_view (&allowed)[N]) {
  std::string out;
  for (std::string_view a : allowed) {
    if (!out.empty()) out += ", ";
    out += a;
  }
  return out;
}

// Rank of a confidence value: none/unknown first, high last.
int ConfidenceRank(const std::string& c) {
  if (c == "low") return 1;
  if (c == "medium") return 2;
  if (c == "high") return 3;
  return 0;
}

bool Matches(const RowFacts& f, const RowQuery& q) {
  if (!q.status.empty() && f.status != q.status) return false;
  if (!q.country.empty() && std::find(f.countries.begin(), f.countries.end(),
                                      q.country) == f.countries.end()) {
    return false;
  }
  if (!q.provider.empty() && f.provider != q.provider) return false;
  if (q.cdn >= 0 && f.cdn() != (q.cdn == 1)) return false;
  if (!q.error_class.empty() && f.error_class != q.error_class) return false;
  if (!q.event.empty() &&
      std::find(f.events.begin(), f.events.end(), q.event) == f.events.end()) {
    return false;
  }
  if (!q.state.empty() && f.state != q.state) return false;
  return q.q.empty() || f.url_lower.find(q.q) != std::string::npos;
}

// -1, 0, 1 as a sorts before, with or after b on `sort` (ties: 0).
int Compare(const RowFacts& a, const RowFacts& b, RowSort sort) {
  const auto cmp = [](const auto& x, const auto& y) {
    return x < y ? -1 : y < x ? 1 : 0;
  };
  switch (sort) {
    case RowSort::kUrl:
      return cmp(a.url, b.url);
    case RowSort::kCountry:
      return cmp(a.country, b.country);
    case RowSort::kProvider:
      return cmp(a.provider, b.provider);
    case RowSort::kStatus:
      return cmp(a.status, b.status);
    case RowSort::kErrorClass:
      return cmp(a.error_class, b.error_class);
    case RowSort::kConfidence:
      return cmp(ConfidenceRank(a.confidence), ConfidenceRank(b.confidence));
    case RowSort::kCheckedAt:
      return cmp(a.checked_at_ms, b.checked_at_ms);
    case RowSort::kLine:
      return 0;
  }
  return 0;
}

Json RowJson(const TableRow& row, const RowFacts& f) {
  Json doc = {
      {"line", row.line},
      {"url", f.url},
      {"job_id", row.job_id},
      {"status", f.status},
      {"country", f.country},
      {"countries", f.countries},
      {"provider", f.provider},
      {"provider_category", f.provider_category},
      {"cdn", f.cdn()},
      {"error_class", f.error_class},
      {"confidence", f.confidence},
      {"events", f.events},
      {"state", f.state},
      {"checked_at",
       f.checked_at_ms == 0 ? "" : FormatRfc3339Ms(f.checked_at_ms)},
      {"referral", f.referral},
  };
  if (f.status == "rejected") doc["reason"] = f.reason;
  return doc;
}

// Adds `lines` lines with facts `f` to the facets (negative: removes them;
// a value left with no line is dropped).
void AddFacets(const RowFacts& f, int64_t lines, Facets* facets) {
  const auto add = [&](const char* name, const std::string& value) {
    auto& counts = (*facets)[name];
    const auto it = counts.try_emplace(value, 0).first;
    it->second += lines;
    if (it->second == 0) counts.erase(it);
  };
  for (const std::string& c : f.countries) add("country", c);
  if (!f.provider.empty()) add("provider", f.provider);
  add("status", f.status);
  if (!f.error_class.empty()) add("error_class", f.error_class);
}

void CountFacets(BatchTable* table) {
  auto& facets = table->facets;
  for (const char* name : {"country", "provider", "status", "error_class"}) {
    facets[name];
  }
  for (size_t i = 0; i < table->facts.size(); ++i) {
    const RowFacts& f = table->facts[i];
    AddFacets(f, f.lines, &facets);
  }
}

}  // namespace

Result<RowQuery> ParseRowQuery(const QueryParams& params) {
  RowQuery q;
  auto offset = NumberParam(params, "offset", 0, 0, UINT64_MAX / 2);
  if (!offset.ok()) return offset.status();
  q.offset = *offset;
  auto limit = NumberParam(params, "limit", 100, 1, kMaxRowsPage);
  if (!limit.ok()) return limit.status();
  q.limit = *limit;
  if (const auto* sort = Param(params, "sort")) {
    auto it = std::find_if(std::begin(kSorts), std::end(kSorts),
                           [&](const auto& s) { return s.first == *sort; });
    if (it == std::end(kSorts)) {
      return InvalidArgument(
          "sort is one of line, url, country, provider, status, error_class, "
          "confidence, checked_at");
    }
    q.sort = it->second;
  }
  if (const auto* order = Param(params, "order")) {
    if (*order != "asc" && *order != "desc") {
      return InvalidArgument("order is asc or desc");
    }
    q.descending = *order == "desc";
  }
  if (const auto* country = Param(params, "country")) {
    if (country->size() != 2 || !std::isalpha((*country)[0]) ||
        !std::isalpha((*country)[1])) {
      return InvalidArgument("country is a two-letter ISO code, e.g. DE");
    }
    q.country = {static_cast<char>(std::toupper((*country)[0])),
                 static_cast<char>(std::toupper((*country)[1]))};
  }
  if (const auto* provider = Param(params, "provider")) q.provider = *provider;
  if (const auto* cdn = Param(params, "cdn")) {
    if (*cdn != "yes" && *cdn != "no") {
      return InvalidArgument("cdn is yes or no");
    }
    q.cdn = *cdn == "yes" ? 1 : 0;
  }
  if (const auto* status = Param(params, "status")) {
    if (!OneOf(*status, kStatuses)) {
      return InvalidArgument("status is one of " + Listed(kStatuses));
    }
    q.status = *status;
  }
  if (const auto* e = Param(params, "error_class")) q.error_class = *e;
  if (const auto* event = Param(params, "event")) {
    if (!OneOf(*event, kEvents)) {
      return InvalidArgument("event is one of " + Listed(kEvents));
    }
    q.event = *event;
  }
  if (const auto* state = Param(params, "state")) {
    if (!OneOf(*state, kStates)) {
      return InvalidArgument("state is one of " + Listed(kStates));
    }
    q.state = *state;
  }
  if (const auto* text = Param(params, "q")) q.q = Lower(*text);
  return q;
}

std::string RowsJson(const BatchTable& table, const RowQuery& query) {
  std::vector<const TableRow*> matching;
  matching.reserve(table.rows.size());
  for (const TableRow& row : table.rows) {
    if (Matches(table.facts[row.facts], query)) matching.push_back(&row);
  }
  // Ties in line order, whatever the order asked for.
  const auto before = [&](const TableRow* a, const TableRow* b) {
    const int c =
        Compare(table.facts[a->facts], table.facts[b->facts], query.sort);
    if (c != 0) return query.descending ? c > 0 : c < 0;
    if (query.sort == RowSort::kLine && query.descending) {
      return a->line > b->line;
    }
    return a->line < b->line;
  };
  const uint64_t end =
      std::min<uint64_t>(matching.size(), query.offset + query.limit);
  if (query.offset < end) {
    std::partial_sort(matching.begin(), matching.begin() + end, matching.end(),
                      before);
  }
  Json rows = Json::array();
  for (uint64_t i = query.offset; i < end; ++i) {
    rows.push_back(RowJson(*matching[i], table.facts[matching[i]->facts]));
  }
  Json doc = {{"total", matching.size()},
              {"offset", query.offset},
              {"rows", std::move(rows)},
              {"facets", table.facets}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

RowFacts FactsOf(const pb::LineRecord& line, const pb::JobRecord* job,
                 const pb::Observation* latest, const HistorySummary* history) {
  RowFacts f;
  if (job == nullptr) {
    f.url = line.input();
    f.status = "rejected";
    f.error_class = "rejected";
    f.reason = line.rejection();
  } else {
    f.checks = job->checks();
    f.job_state = job->state();
    f.url = latest != nullptr && !latest->url().empty() ? latest->url()
                                                        : job->url();
    switch (job->state()) {
      case pb::JOB_STATE_DONE:
        f.status = LineStatus(line, latest);
        break;
      case pb::JOB_STATE_LEASED:
        f.status = "in_flight";
        break;
      case pb::JOB_STATE_DEAD:
        f.status = "dead";
        break;
      default:
        f.status = "queued";
        break;
    }
  }
  f.url_lower = Lower(f.url);
  if (latest != nullptr) {
    const pb::Verdict& v = latest->verdict();
    f.countries.assign(v.hosting_countries().begin(),
                       v.hosting_countries().end());
    f.referral = PackageKeys(line, latest).front();
    f.country = f.referral != kUnattributed ? f.referral
                : !f.countries.empty()      ? f.countries[0]
                                            : "";
    if (!latest->providers().empty()) {
      f.provider = latest->providers(0).name();
      f.provider_category = latest->providers(0).category();
    }
    f.error_class = latest->error().error_class();
    f.confidence = v.jurisdiction().confidence();
    f.checked_at_ms = latest->checked_at_unix_ms();
  }
  if (history != nullptr) {
    f.state = std::string(CheckStateName(history->state));
    for (std::string_view name : kEvents) {
      if (std::any_of(history->events.begin(), history->events.end(),
                      [&](const HistoryEvent& e) {
                        return EventKindName(e.kind) == name;
                      })) {
        f.events.emplace_back(name);
      }
    }
  }
  return f;
}

Result<std::shared_ptr<const BatchTable>> BuildBatchTable(
    const Store& store, uint64_t run_id, uint64_t generation,
    const HistorySettings& settings, const BatchTable* previous,
    int64_t now_ms) {
  auto table = std::make_shared<BatchTable>();
  table->run_id = run_id;
  table->generation = generation;
  table->built_ms = now_ms;
  std::unordered_map<uint64_t, uint32_t> job_facts;
  LineOutcome outcome;
  HL_RETURN_IF_ERROR(
      store.ForEachLine(run_id, [&](const pb::LineRecord& line) -> Status {
        TableRow row{line.line(), line.job_id(), 0};
        // The facts of a line not seen before, as the first of their lines.
        const auto add_facts = [&](RowFacts facts) {
          row.facts = static_cast<uint32_t>(table->facts.size());
          facts.lines = 1;
          table->facts.push_back(std::move(facts));
          table->rows.push_back(row);
        };
        if (line.job_id() == 0) {
          add_facts(FactsOf(line, nullptr, nullptr, nullptr));
          return Status::Ok();
        }
        if (auto known = job_facts.find(line.job_id());
            known != job_facts.end()) {
          row.facts = known->second;
          ++table->facts.Mutable(row.facts).lines;
          table->rows.push_back(row);
          return Status::Ok();
        }
        auto job = store.GetJob(line.job_id());
        if (!job.ok()) return job.status();
        const RowFacts* reused = nullptr;
        if (previous != nullptr && previous->job_facts != nullptr) {
          auto old = previous->job_facts->find(line.job_id());
          if (old != previous->job_facts->end()) {
            const RowFacts& f = previous->facts[old->second];
            if (f.checks == job->checks() && f.job_state == job->state()) {
              reused = &f;
            }
          }
        }
        if (reused != nullptr) {
          add_facts(*reused);
        } else {
          auto read = ReadOutcome(store, line, &settings, &outcome);
          if (!read.ok()) return read.status();
          add_facts(FactsOf(line, &*job,
                            outcome.latest ? &*outcome.latest : nullptr,
                            outcome.history ? &*outcome.history : nullptr));
        }
        job_facts.emplace(line.job_id(), row.facts);
        return Status::Ok();
      }));
  table->job_facts =
      std::make_shared<const std::unordered_map<uint64_t, uint32_t>>(
          std::move(job_facts));
  CountFacets(table.get());
  return std::shared_ptr<const BatchTable>(std::move(table));
}

Result<std::shared_ptr<const BatchTable>> UpdateBatchTable(
    const Store& store, const BatchTable& previous,
    const std::vector<uint64_t>& changed, uint64_t generation,
    const HistorySettings& settings, int64_t now_ms) {
  auto table = std::make_shared<BatchTable>(previous);
  table->generation = generation;
  table->built_ms = now_ms;
  std::unordered_set<uint64_t> updated;
  LineOutcome outcome;
  for (uint64_t job_id : changed) {
    auto at = table->job_facts->find(job_id);
    if (at == table->job_facts->end() || !updated.insert(job_id).second) {
      continue;
    }
    auto job = store.GetJob(job_id);
    if (!job.ok()) return job.status();
    pb::LineRecord line;  // what FactsOf reads of a line with a job
    line.set_job_id(job_id);
    auto read = ReadOutcome(store, line, &settings, &outcome);
    if (!read.ok()) return read.status();
    RowFacts& facts = table->facts.Mutable(at->second);
    const uint32_t lines = facts.lines;
    AddFacets(facts, -int64_t{lines}, &table->facets);
    facts = FactsOf(line, &*job, outcome.latest ? &*outcome.latest : nullptr,
                    outcome.history ? &*outcome.history : nullptr);
    facts.lines = lines;
    AddFacets(facts, lines, &table->facets);
  }
  return std::shared_ptr<const BatchTable>(std::move(table));
}

Result<std::shared_ptr<const BatchTable>> BatchTables::Get(uint64_t run_id,
                                                           int64_t now_ms) {
  auto live = store_->LiveCounts(run_id, now_ms);
  if (!live.ok()) return live.status();
  std::lock_guard lock(mu_);
  std::shared_ptr<const BatchTable> previous;
  for (auto it = kept_.begin(); it != kept_.end(); ++it) {
    if ((*it)->run_id != run_id) continue;
    previous = *it;
    kept_.erase(it);
    break;
  }
  if (previous == nullptr || (previous->generation != live->generation &&
                              now_ms - previous->built_ms >= kMinRebuildMs)) {
    const pb::BatchCounts& c = live->counts;
    const uint64_t lines =
        c.rejected() + c.pending() + c.in_flight() + c.done() + c.dead();
    std::optional<std::vector<uint64_t>> changed;
    if (previous != nullptr && previous->rows.size() == lines) {
      changed = store_->ChangedJobs(run_id, previous->generation);
    }
    auto built = changed ? UpdateBatchTable(*store_, *previous, *changed,
                                            live->generation, settings_, now_ms)
                         : BuildBatchTable(*store_, run_id, live->generation,
                                           settings_, previous.get(), now_ms);
    if (!built.ok()) return built.status();
    previous = *std::move(built);
  }
  kept_.push_front(previous);
  if (kept_.size() > kKept) kept_.pop_back();
  return previous;
}

}  // namespace hl::coordinator
