#include "src/channels.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>

#include "tierflow/v1/campaign.pb.h"

namespace tierflow::notification {

FileChannel::FileChannel(std::string path) : path_(std::move(path)) {
  std::ifstream in(path_);
  std::string line;
  v1::Delivery d;
  while (std::getline(in, line)) {
    d.Clear();
    if (google::protobuf::util::JsonStringToMessage(line, &d).ok()) sent_keys_.insert(d.dedupe_key());
  }
}

std::string FileChannel::send(const v1::Delivery& delivery) {
  std::lock_guard lock(mu_);
  if (sent_keys_.count(delivery.dedupe_key()) > 0) return "";
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  if (auto st = google::protobuf::util::MessageToJsonString(delivery, &json, opts); !st.ok()) {
    return "cannot encode: " + st.ToString();
  }
  std::ofstream out(path_, std::ios::app);
  out << json << '\n';
  out.flush();
  if (!out) return "cannot append to " + path_;
  sent_keys_.insert(delivery.dedupe_key());
  return "";
}

}  // namespace tierflow::notification
