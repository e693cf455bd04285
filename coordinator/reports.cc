#include "coordinator/reports.h"

#include <cctype>
#include <filesystem>

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

std::string JoinWith(const google::protobuf::RepeatedPtrField<std::string>& v,
                     std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

Status OpenFile(const std::filesystem::path& path, std::ofstream* out,
                std::vector<std::string>* files) {
  out->open(path, std::ios::out | std::ios::trunc);
  if (!*out) return FailedPrecondition("cannot write " + path.string());
  files->push_back(path.string());
  return Status::Ok();
}

}  // namespace

std::string CsvField(std::string_view value) {
  std::string text = ToValidUtf8(value);
  // A spreadsheet runs a cell that starts with one of these as a formula;
  // input lines and AS names are attacker-influenced (CSV injection).
  if (!text.empty() && std::string_view("=+-@\t\r").find(text.front()) !=
                           std::string_view::npos) {
    text.insert(0, "'");
  }
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string LineStatus(const pb::LineRecord& line, const pb::Observation* obs) {
  if (!line.rejection().empty()) return "rejected";
  if (obs == nullptr) return "error";
  return obs->status();
}

std::string CsvHeader() {
  return "line,input,url,status,error_class,hosting_countries,ip,country,asn,"
         "as_org,network,http_status,checked_at";
}

std::string CsvRow(const pb::LineRecord& line, const pb::Observation* obs) {
  std::string row =
      std::to_string(line.line()) + "," + CsvField(line.input()) + ",";
  if (obs == nullptr) {
    const std::string error =
        line.rejection().empty() ? "not_probed" : "rejected";
    return row + "," + LineStatus(line, obs) + "," + error + ",,,,,,,,";
  }
  const pb::AddressInfo* address = PinnedAddress(*obs);
  row += CsvField(obs->url()) + "," + obs->status() + "," +
         CsvField(obs->error().error_class()) + "," +
         JoinWith(obs->verdict().hosting_countries(), ";") + ",";
  if (address != nullptr) {
    row += address->ip() + "," + address->country() + "," +
           (address->asn() ? std::to_string(address->asn()) : "") + "," +
           CsvField(address->as_org()) + "," + address->network();
  } else {
    row += ",,,,";
  }
  row += "," +
         (obs->http().status() ? std::to_string(obs->http().status()) : "") +
         "," + FormatRfc3339Ms(obs->checked_at_unix_ms());
  return row;
}

Result<std::unique_ptr<RunReportWriter>> RunReportWriter::Create(
    const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir) / "by-country",
                                      ec);
  if (ec)
    return FailedPrecondition("cannot create " + dir + ": " + ec.message());
  std::unique_ptr<RunReportWriter> w(new RunReportWriter(dir));
  auto& files = w->summary_.files;
  const std::filesystem::path base(dir);
  HL_RETURN_IF_ERROR(OpenFile(base / "results.jsonl", &w->jsonl_, &files));
  HL_RETURN_IF_ERROR(OpenFile(base / "results.csv", &w->csv_, &files));
  HL_RETURN_IF_ERROR(
      OpenFile(base / "unattributed.csv", &w->unattributed_, &files));
  w->csv_ << CsvHeader() << "\n";
  w->unattributed_ << CsvHeader() << "\n";
  return w;
}

RunReportWriter::~RunReportWriter() = default;

Result<std::ofstream*> RunReportWriter::CountryFile(
    const std::string& country) {
  if (country.size() != 2 || !std::isupper(country[0]) ||
      !std::isupper(country[1])) {
    return Internal("\"" + ToValidUtf8(country) +
                    "\" is not an ISO 3166 country code");
  }
  auto [it, inserted] = country_files_.try_emplace(country);
  if (inserted) {
    HL_RETURN_IF_ERROR(OpenFile(
        std::filesystem::path(dir_) / "by-country" / (country + ".csv"),
        &it->second, &summary_.files));
    it->second << CsvHeader() << "\n";
  }
  return &it->second;
}

Status RunReportWriter::Add(const pb::LineRecord& line,
                            const pb::Observation* obs) {
  ++summary_.lines;
  ++summary_.by_status[LineStatus(line, obs)];
  jsonl_ << ResultRecordJson(line, obs).dump() << "\n";
  const std::string row = CsvRow(line, obs);
  csv_ << row << "\n";
  if (obs == nullptr || obs->verdict().hosting_countries().empty()) {
    unattributed_ << row << "\n";
  } else {
    for (const auto& country : obs->verdict().hosting_countries()) {
      auto file = CountryFile(country);
      if (!file.ok()) return file.status();
      **file << row << "\n";
      auto& stats = summary_.by_country[country];
      ++stats.lines;
      stats.jobs.insert(line.job_id());
      for (const auto& a : obs->addresses()) {
        if (a.country() != country) continue;
        std::string network = a.asn() ? "AS" + std::to_string(a.asn()) : "";
        if (!a.as_org().empty()) network += " " + a.as_org();
        if (!network.empty()) ++stats.networks[network];
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
    countries << country << "," << stats.lines << "," << stats.jobs.size()
              << "," << CsvField(networks) << "\n";
  }
  std::ofstream attribution;
  HL_RETURN_IF_ERROR(
      OpenFile(base / "ATTRIBUTION.txt", &attribution, &summary_.files));
  attribution << "Data sources used for these results:\n";
  for (const auto& text : attributions_) attribution << "- " << text << "\n";
  std::vector<std::ofstream*> files = {&jsonl_, &csv_, &unattributed_,
                                       &countries, &attribution};
  for (auto& [country, f] : country_files_) files.push_back(&f);
  for (std::ofstream* f : files) {
    f->flush();
    if (!*f) return Unavailable("writing the report in " + dir_ + " failed");
  }
  return summary_;
}

}  // namespace hl::coordinator
