// Narrow views of a message's wire form (common/proto/enrichment_source.proto,
// verdict_line_source.proto): a view type declares a subset of a message's
// fields with their numbers and wire types, and ParseView reads only those.
// A plain parse of a view keeps every undeclared field as an unknown field
// (a copy of its bytes, thrown away with the view); ParseView walks the
// wire form once, skipping undeclared fields, descending only into the
// declared message fields, and parses what is left.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <string>
#include <string_view>
#include <vector>

namespace hl {

// The fields one view type declares, recursively (built once per type).
class WireView {
 public:
  explicit WireView(const google::protobuf::Descriptor& view);

  // Parses `bytes` into `view` (of the type this was built for) as
  // view->ParseFromArray followed by DiscardUnknownFields would: the same
  // fields, and false for the same malformed inputs. A declared field
  // whose wire type differs from its declaration's is unknown to the view,
  // so it is skipped as well.
  bool Parse(std::string_view bytes, google::protobuf::Message* view) const;

 private:
  struct Field {
    uint8_t wire_types = 0;  // bit per wire type kept; 0: not declared
    int nested = -1;         // a message field: its index in messages_
  };
  // Appends to `out` the fields of the message [p, end) that
  // messages_[message] declares, its declared message fields filtered in
  // turn, `depth` levels down. False when the input is not well-formed.
  bool Filter(int message, const char* p, const char* end, int depth,
              std::string* out) const;

  // Per message type (messages_[0] is the view), per field number up to
  // the largest declared.
  std::vector<std::vector<Field>> messages_;
};

template <typename View>
bool ParseView(std::string_view bytes, View* view) {
  static const WireView wire_view(*View::descriptor());
  return wire_view.Parse(bytes, view);
}

}  // namespace hl
