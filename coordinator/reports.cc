#include "coordinator/reports.h"

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "common/plain_ascii.h"
#include "common/record_json.h"
#include "common/utf8.h"

namespace hl::coordinator {
namespace {

const pb::AddressInfo* PinnedAddress(const pb::Observation& obs) {
  const std::string& ip = obs.http().connected_ip().empty()
                              ? obs.pinned_ip()
                              : obs.http().connected_ip();
  for (const auto& a : obs.addresses()) {
    if (a.ip() == ip) return &a;
  }
  return obs.addresses().empty() ? nullptr : &obs.addresses(0);
}

// The values of `v` joined with ';', as they are (ISO codes).
void AppendJoined(const google::protobuf::RepeatedPtrField<std::string>& v,
                  std::string* out) {
  for (int i = 0; i < v.size(); ++i) {
    if (i > 0) *out += ';';
    *out += v[i];
  }
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[20];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// results.jsonl is written in blocks of about this size.
constexpr size_t kRecordBlock = 1 << 16;

Status OpenFile(const std::filesystem::path& path, std::ofstream* out,
                std::vector<std::string>* files) {
  out->open(path, std::ios::out | std::ios::trunc);
  if (!*out) return FailedPrecondition("cannot write " + path.string());
  files->push_back(path.string());
  return Status::Ok();
}

}  // namespace

void AppendCsvField(std::string_view value, std::string* out) {
  // A spreadsheet runs a cell that starts with one of these as a formula;
  // input lines and AS names are attacker-influenced (CSV injection).
  // Repair keeps every ASCII byte and adds none, so both decisions can be
  // taken on the raw bytes.
  const bool formula =
      !value.empty() && std::string_view("=+-@\t\r").find(value.front()) !=
                            std::string_view::npos;
  const bool quoted = PrefixWithout<',', '"', '\r', '\n'>(value) < value.size();
  if (!quoted) {
    if (formula) *out += '\'';
    AppendValidUtf8(value, out);
    return;
  }
  *out += '"';
  if (formula) *out += '\'';
  for (size_t quote; (quote = value.find('"')) != std::string_view::npos;) {
    AppendValidUtf8(value.substr(0, quote), out);
    *out += "\"\"";
    value.remove_prefix(quote + 1);
  }
  AppendValidUtf8(value, out);
  *out += '"';
}

std::string LineStatus(const pb::LineRecord& line, const pb::Observation* obs) {
  if (!line.rejection().empty()) return "rejected";
  if (obs == nullptr) return "error";
  return obs->status();
}

std::string CsvHeader() {
  return "line,input,url,status,error_class,hosting_countries,ip,country,asn,"
         "as_org,network,http_status,checked_at,checks,history_state,moved,"
         "down,online_since,down_since,fast_flux,warnings";
}

namespace {

// The history columns of CsvHeader(), after a ','; empty without `h`.
void AppendHistoryColumns(const HistorySummary* h, std::string* out) {
  if (h == nullptr) {
    *out += ",,,,,,,,";
    return;
  }
  *out += ',';
  AppendUint(h->checks, out);
  *out += ',';
  *out += CheckStateName(h->state);
  *out += ',';
  AppendUint(h->moves, out);
  *out += ',';
  AppendUint(h->downs, out);
  *out += ',';
  if (h->online_since_ms != 0) AppendRfc3339Ms(h->online_since_ms, out);
  *out += ',';
  if (h->down_since_ms != 0) AppendRfc3339Ms(h->down_since_ms, out);
  *out += h->fast_flux.suspected ? ",true," : ",false,";
  std::string warnings;
  for (const StaleSource& s : h->stale_data) {
    if (!warnings.empty()) warnings += "; ";
    warnings += StaleWarning(s);
  }
  AppendCsvField(warnings, out);
}

}  // namespace

void AppendCsvRow(const pb::LineRecord& line, const pb::Observation* obs,
                  std::string* out, const HistorySummary* history) {
  AppendUint(line.line(), out);
  *out += ',';
  AppendCsvField(line.input(), out);
  *out += ',';
  if (obs == nullptr) {
    *out += ',';
    *out += LineStatus(line, obs);
    *out += line.rejection().empty() ? ",not_probed" : ",rejected";
    *out += ",,,,,,,,";
    AppendHistoryColumns(nullptr, out);
    return;
  }
  AppendCsvField(obs->url(), out);
  *out += ',';
  *out += obs->status();
  *out += ',';
  AppendCsvField(obs->error().error_class(), out);
  *out += ',';
  AppendJoined(obs->verdict().hosting_countries(), out);
  *out += ',';
  if (const pb::AddressInfo* address = PinnedAddress(*obs); address) {
    *out += address->ip();
    *out += ',';
    *out += address->country();
    *out += ',';
    if (address->asn() != 0) AppendUint(address->asn(), out);
    *out += ',';
    AppendCsvField(address->as_org(), out);
    *out += ',';
    *out += address->network();
  } else {
    *out += ",,,,";
  }
  *out += ',';
  if (obs->http().status() != 0) *out += std::to_string(obs->http().status());
  *out += ',';
  AppendRfc3339Ms(obs->checked_at_unix_ms(), out);
  AppendHistoryColumns(history, out);
}

Result<std::unique_ptr<RunReportWriter>> RunReportWriter::Create(
    const std::string& dir, PackageOptions packages) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return FailedPrecondition("cannot create " + dir + ": " + ec.message());
  std::unique_ptr<RunReportWriter> w(new RunReportWriter(dir));
  auto& files = w->summary_.files;
  const std::filesystem::path base(dir);
  HL_RETURN_IF_ERROR(OpenFile(base / "results.jsonl", &w->jsonl_, &files));
  HL_RETURN_IF_ERROR(OpenFile(base / "results.csv", &w->csv_, &files));
  w->csv_ << CsvHeader() << "\n";
  packages.replace = true;
  auto package_writer = ReferralPackageWriter::Create(
      (base / "referrals").string(), std::move(packages));
  if (!package_writer.ok()) return package_writer.status();
  w->packages_ = std::move(package_writer).value();
  return w;
}

RunReportWriter::~RunReportWriter() = default;

void RunReportWriter::FlushRecords() {
  jsonl_.write(records_.data(), static_cast<std::streamsize>(records_.size()));
  records_.clear();
}

Status RunReportWriter::Add(const pb::LineRecord& line,
                            const pb::Observation* obs,
                            const HistorySummary* history) {
  ++summary_.lines;
  ++summary_.by_status[LineStatus(line, obs)];
  // One serialization for both records: results.jsonl's with the history,
  // the packages' without.
  record_.clear();
  AppendResultRecordHead(line, obs, &record_);
  records_ += record_;
  AppendResultRecordTail(history, &records_);
  records_ += '\n';
  if (records_.size() >= kRecordBlock) FlushRecords();
  AppendResultRecordTail(nullptr, &record_);
  row_.clear();
  AppendCsvRow(line, obs, &row_, history);
  row_ += '\n';
  csv_.write(row_.data(), static_cast<std::streamsize>(row_.size()));
  HL_RETURN_IF_ERROR(packages_->Add(line, obs, record_));
  if (obs != nullptr && !obs->verdict().hosting_countries().empty()) {
    // A job's lines share its observation, so its countries are counted
    // once, on its first line.
    const uint64_t job = line.job_id();
    if (job >= job_counted_.size()) {
      job_counted_.resize(std::max<uint64_t>(job + 1, 2 * job_counted_.size()));
    }
    const bool new_job = !job_counted_[job];
    job_counted_[job] = true;
    for (const auto& country : obs->verdict().hosting_countries()) {
      auto& stats = summary_.by_country[country];
      ++stats.lines;
      stats.jobs += new_job ? 1 : 0;
      for (const auto& a : obs->addresses()) {
        if (a.country() != country) continue;
        network_.clear();
        if (a.asn() != 0) {
          network_ += "AS";
          AppendUint(a.asn(), &network_);
        }
        if (!a.as_org().empty()) {
          network_ += ' ';
          network_ += a.as_org();
        }
        if (!network_.empty()) ++stats.networks[network_];
      }
    }
  }
  if (obs != nullptr) {
    for (const auto& source : obs->data_sources()) {
      if (!source.attribution().empty()) {
        attributions_.insert(source.attribution());
      }
    }
  }
  if (!jsonl_ || !csv_) return Unavailable("writing the report failed");
  return Status::Ok();
}

Result<ReportSummary> RunReportWriter::Finish() {
  FlushRecords();
  const std::filesystem::path base(dir_);
  std::ofstream countries;
  HL_RETURN_IF_ERROR(
      OpenFile(base / "countries.csv", &countries, &summary_.files));
  countries << "country,lines,unique_urls,networks\n";
  for (const auto& [country, stats] : summary_.by_country) {
    std::string networks;
    for (const auto& [network, count] : stats.networks) {
      if (!networks.empty()) networks += "; ";
      networks += network;
    }
    std::string field;
    AppendCsvField(networks, &field);
    countries << country << "," << stats.lines << "," << stats.jobs << ","
              << field << "\n";
  }
  std::ofstream attribution;
  HL_RETURN_IF_ERROR(
      OpenFile(base / "ATTRIBUTION.txt", &attribution, &summary_.files));
  attribution << "Data sources used for these results:\n";
  for (const auto& text : attributions_) attribution << "- " << text << "\n";
  for (std::ofstream* f : {&jsonl_, &csv_, &countries, &attribution}) {
    f->flush();
    if (!*f) return Unavailable("writing the report in " + dir_ + " failed");
  }
  auto packages = packages_->Finish();
  if (!packages.ok()) return packages.status();
  summary_.packages = *std::move(packages);
  for (const PackageSummary& p : summary_.packages.packages) {
    for (const PackageFile& f : p.files) {
      summary_.files.push_back((base / "referrals" / f.path).string());
    }
  }
  for (const PackageFile& f : summary_.packages.index_files) {
    summary_.files.push_back((base / "referrals" / f.path).string());
  }
  return summary_;
}

}  // namespace hl::coordinator
