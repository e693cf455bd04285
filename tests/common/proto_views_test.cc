// The narrow views of a stored Observation (EnrichmentSource for the RDAP
// enricher, VerdictLineSource for the console line) must read the same
// wire format: every field of a view has the number, type and cardinality
// of the Observation field it mirrors, recursively, or the view would
// misread (or silently skip) stored results.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <string>

#include "common/proto/enrichment_source.pb.h"
#include "common/proto/hostlocator.pb.h"
#include "common/proto/verdict_line_source.pb.h"

namespace hl {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

void ExpectSameWireFormat(const Descriptor& view, const Descriptor& full,
                          const std::string& path) {
  for (int i = 0; i < view.field_count(); ++i) {
    const FieldDescriptor& field = *view.field(i);
    const std::string where = path + "." + field.name();
    const FieldDescriptor* mirror = full.FindFieldByNumber(field.number());
    ASSERT_NE(mirror, nullptr) << where << ": no field " << field.number()
                               << " in " << full.full_name();
    EXPECT_EQ(field.type(), mirror->type()) << where;
    EXPECT_EQ(field.is_repeated(), mirror->is_repeated()) << where;
    if (field.type() == FieldDescriptor::TYPE_MESSAGE) {
      ExpectSameWireFormat(*field.message_type(), *mirror->message_type(),
                           where);
    }
  }
}

TEST(ProtoViewsTest, EnrichmentSourceReadsObservationsWireFormat) {
  ExpectSameWireFormat(*hostlocator::v1::EnrichmentSource::descriptor(),
                       *hostlocator::v1::Observation::descriptor(),
                       "EnrichmentSource");
}

TEST(ProtoViewsTest, VerdictLineSourceReadsObservationsWireFormat) {
  ExpectSameWireFormat(*hostlocator::v1::VerdictLineSource::descriptor(),
                       *hostlocator::v1::Observation::descriptor(),
                       "VerdictLineSource");
}

}  // namespace
}  // namespace hl
